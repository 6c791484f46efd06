// LocalCloud's CloudFront Functions runtime: a Node.js worker the edge talks to over a pipe, so that a
// crash in JavaScript land can never take the Python process (pytest, `neuronlab local up`) down with it.
//
// One request a line on stdin, one answer a line on stdout (JSON):
//   {"id": 1, "environment": "demo", "code": "...", "event": {...}}  ->  {"id": 1, "result": {...}}
//                                                                   or {"id": 1, "error": "..."}
//   {"id": 2, "forget": "demo"}                                      ->  {"id": 2, "result": null}
//   {"id": 3, "stats": true}                                         ->  {"id": 3, "result": {"contexts": N}}
// Each environment's code runs in its own V8 context, compiled once and replaced when the code changes;
// at most MAX_CONTEXTS live at once (least recently used goes first), and `forget` frees one at once.
'use strict';

const readline = require('readline');
const vm = require('vm');

const TIMEOUT_MS = Number(process.argv[2] || 1000);
const MAX_CONTEXTS = Number(process.argv[3] || 64);
const contexts = new Map(); // environment -> {code, context}; Map keeps insertion order: first = least recent

function contextFor(environment, code) {
  let entry = contexts.get(environment);
  if (entry !== undefined && entry.code === code) {
    contexts.delete(environment); // re-inserted below: now the most recently used
  } else {
    const context = vm.createContext({});
    vm.runInContext(code, context, {timeout: TIMEOUT_MS, filename: environment + '.js'});
    entry = {code, context};
  }
  contexts.set(environment, entry);
  while (contexts.size > MAX_CONTEXTS) {
    contexts.delete(contexts.keys().next().value);
  }
  return entry.context;
}

async function answer(request) {
  if (request.forget !== undefined) {
    contexts.delete(request.forget);
    return null;
  }
  if (request.stats) {
    return {contexts: contexts.size};
  }
  const context = contextFor(request.environment, request.code);
  context.__event = request.event;
  try {
    // cloudfront-js-2.0 handlers may be async: the answer is what the promise resolves to
    return await vm.runInContext('handler(__event)', context, {timeout: TIMEOUT_MS});
  } finally {
    delete context.__event;
  }
}

const lines = readline.createInterface({input: process.stdin});
lines.on('line', async (line) => {
  let request = {};
  let reply;
  try {
    request = JSON.parse(line);
    reply = {id: request.id, result: (await answer(request)) ?? null};
  } catch (error) {
    reply = {id: request.id, error: String(error && error.stack ? error.stack.split('\n')[0] : error)};
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
});
lines.on('close', () => process.exit(0)); // the edge went away: so does its worker
