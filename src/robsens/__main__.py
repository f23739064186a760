# Pin the math libraries' CPU dispatch (params `reproducibility`) before anything imports them.
from robsens.core.reproducibility import pin_from_argv

pin_from_argv()

from robsens.cli import exit_fast, main  # noqa: E402

exit_fast(main())
