from robsens.cli import main

raise SystemExit(main())
