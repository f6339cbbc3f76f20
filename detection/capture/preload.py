"""Heavy imports done once in the fork server, so camera processes share their memory pages.

Camera processes are forked from a server that has imported these once (multiprocessing's
"forkserver"), instead of each paying for its own copy; the server holds no sockets, threads or
database connections to inherit.
"""

import cv2  # noqa: F401
import numpy  # noqa: F401
