# Pin the math libraries' CPU dispatch (params `reproducibility`) before anything imports them.
from robsens.core.reproducibility import pin_from_argv

pin_from_argv()

from robsens.cli import main  # noqa: E402

raise SystemExit(main())
