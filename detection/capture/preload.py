"""Heavy imports done once in the fork server, so camera processes share their memory pages.

Importing the Ultralytics tracker pulls in PyTorch (~800 MB resident). Camera processes are forked
from a server that has imported it once (multiprocessing's "forkserver"), instead of each paying for
its own copy; the server holds no sockets, threads or database connections to inherit.
"""

import cv2  # noqa: F401
import numpy  # noqa: F401
from ultralytics.trackers.byte_tracker import BYTETracker  # noqa: F401
