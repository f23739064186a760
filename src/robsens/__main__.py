# Pin the math libraries' CPU dispatch (params `reproducibility`) before anything imports them.
import sys

from robsens.core.reproducibility import pin_from_argv

pin_from_argv()

# A warm interpreter runs the job when one is up (robsens.warm); else this process does.
from robsens import warm  # noqa: E402

code = warm.delegate(sys.argv[1:])
if code is not None:
    sys.exit(code)

from robsens.cli import exit_fast, main  # noqa: E402

exit_fast(main())
