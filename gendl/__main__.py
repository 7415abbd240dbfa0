from gendl.cli import main

raise SystemExit(main())
