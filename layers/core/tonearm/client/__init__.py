"""``tonearm.client``: a small typed client of any tonearm deployment, for scripts and notebooks.

::

    from tonearm.client import Client

    api = Client.from_config()            # or Client("https://...execute-api.../Prod", "key")
    done = api.run("tonearm/analyze", "song.mp3", out_dir="out")
    print(done.job.status, done.job.result["bpm"], done.files)

Settings come from arguments, then ``TONEARM_URL`` / ``TONEARM_API_KEY``, then the config file
(``tonearm.client.config``). Every refusal is an :class:`ApiError` with the server's ``code``. The
package needs only the standard library and pydantic (no numpy, boto3 or FastAPI); the ``tonearm``
command's client commands are built on it (``tonearm run``, ``tonearm jobs``, ``tonearm tag``,
``tonearm generate``).
"""

from tonearm.client.api import (
    ApiError,
    Client,
    GenerationStatus,
    JobStatus,
    JobView,
    RunResult,
    TagResult,
    TaskTags,
    Workflow,
)
from tonearm.client.config import ClientConfig, ConfigError, config_path, load_config

__all__ = [
    "ApiError",
    "Client",
    "ClientConfig",
    "ConfigError",
    "GenerationStatus",
    "JobStatus",
    "JobView",
    "RunResult",
    "TagResult",
    "TaskTags",
    "Workflow",
    "config_path",
    "load_config",
]
