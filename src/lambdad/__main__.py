from lambdad.cli import main

raise SystemExit(main())
