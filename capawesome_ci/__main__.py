from capawesome_ci.cli import main

raise SystemExit(main())
