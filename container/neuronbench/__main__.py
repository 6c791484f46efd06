from neuronbench.cli import main

raise SystemExit(main())
