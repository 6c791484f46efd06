from neuronlab_activity.reporter import main

raise SystemExit(main())
