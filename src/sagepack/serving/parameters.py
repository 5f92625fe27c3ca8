"""Every name of the serving contract: environment variables, routes, headers, media types.

Environment variables are read once, at start-up, by :mod:`sagepack.serving.settings`.

=====================================  ==============================  =====================================================
Variable                               Default                         Meaning
=====================================  ==============================  =====================================================
``SAGEMAKER_BIND_TO_PORT``             ``8080``                        TCP port to listen on (all interfaces).
``SAGEMAKER_SAFE_PORT_RANGE``          unset                           Side ports the container may use; none needed.
``SAGEMAKER_MODEL_SERVER_WORKERS``     one per CPU (GPU: per GPU)      Worker processes; each loads the model once.
``SAGEMAKER_MODEL_SERVER_TIMEOUT``     ``SAGEPACK_TIMEOUT_S``          Seconds one invocation may take (a stream: the
                                                                       first chunk, then each gap between chunks); 504.
``SAGEMAKER_PROGRAM``                  ``inference.py``                Handler module in the handler directory.
``SAGEMAKER_BATCH``                    ``false``                       ``true`` in batch transform: body limit becomes
                                                                       ``SAGEMAKER_MAX_PAYLOAD_IN_MB``.
``SAGEMAKER_MAX_PAYLOAD_IN_MB``        ``SAGEPACK_MAX_PAYLOAD_IN_MB``  Batch job's payload limit (0-100 MiB; ``0``: the
                                                                       job streams the data, no fixed limit).
``SAGEMAKER_BATCH_STRATEGY``           ``SAGEPACK_BATCH_STRATEGY``     Batch job's strategy (``MULTI_RECORD``/``SINGLE_RECORD``).
``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS``  ``SAGEPACK_MAX_CONCURRENT_...``  Batch job's concurrency.
``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``  unset                         Alias of ``SAGEPACK_DEFAULT_ACCEPT`` (AWS toolkit name).
``SAGEPACK_MODEL_DIR``                 ``/opt/ml/model``               Where the model archive was extracted (read-only).
``SAGEPACK_HANDLER_DIR``               ``<model dir>/code``            Directory holding the handler module (a handler
                                                                       baked into the image points here).
``SAGEPACK_DEFAULT_ACCEPT``            ``application/json``            Response type for a missing Accept or ``*/*``.
``SAGEPACK_DEFAULT_CONTENT_TYPE``      ``application/json``            Request type assumed when Content-Type is missing.
``SAGEPACK_DEBUG``                     ``false``                       Put tracebacks in error bodies (never in production).
``SAGEPACK_MAX_CONCURRENT_TRANSFORMS``  workers                        ``/execution-parameters`` default (image config).
``SAGEPACK_BATCH_STRATEGY``            ``MULTI_RECORD``                ``/execution-parameters`` default (image config).
``SAGEPACK_MAX_PAYLOAD_IN_MB``         ``6``                           ``/execution-parameters`` default (image config).
``SAGEPACK_HOST``                      ``0.0.0.0``                     Interface to listen on (tests use 127.0.0.1).
``SAGEPACK_THREADS``                   ``1``                           Inference threads per worker (handlers that are
                                                                       thread-safe and release the GIL may use more).
``SAGEPACK_MAX_HUNG_THREADS``          ``2``                           Timed-out handler calls still running that a worker
                                                                       tolerates before it is replaced.
``SAGEPACK_GRACEFUL_TIMEOUT``          ``20``                          Seconds in-flight requests get after SIGTERM
                                                                       (capped by the model server timeout).
``SAGEPACK_HEARTBEAT_TIMEOUT``         ``30``                          Seconds a worker's event loop may stay silent before
                                                                       the supervisor kills and replaces it.
``SAGEPACK_ACCESS_LOG``                ``true``                        One line per request on stdout.
``SAGEPACK_LOG_LEVEL``                 ``INFO``                        Log level of the server.
``SAGEPACK_TEXT_BODIES``               ``true``                        JSON and CSV bodies reach input_fn/transform_fn as
                                                                       ``str`` that also has ``.decode()`` (serves AWS's
                                                                       scikit-learn and PyTorch conventions alike);
                                                                       ``false``: ``bytes``.
``SAGEPACK_TIMEOUT_S``                 ``60`` (batch: ``600``)         The model's invocation timeout (image config, e.g.
                                                                       ``3600`` for asynchronous endpoints).
``SAGEPACK_MAX_REQUEST_MB``            unset (6 MiB)                   Real-time body limit in MiB, 1-1024 (image config,
                                                                       for asynchronous endpoints' payloads up to 1 GB);
                                                                       set, responses over 6 MB are not warned about.
``SAGEPACK_GPU``                       auto                            One worker per visible GPU, each given its
                                                                       ``gpu_id``. Unset: on when ``NVIDIA_VISIBLE_DEVICES``
                                                                       is set (GPU images set it) and not ``none``/``void``.
``SAGEPACK_NVIDIA_PROC_DIR``           ``/proc/driver/nvidia/gpus``    Where GPUs are counted (one entry per GPU; tests
                                                                       point it at a fake driver directory).
``NVIDIA_VISIBLE_DEVICES``             image (``all`` on GPU images)   A list (``0,1`` or UUIDs) fixes the GPU count;
                                                                       ``all``: counted from the driver's files.
``CUDA_VISIBLE_DEVICES``               unset                           If set, caps the GPU count at its length.
``SAGEPACK_MULTI_MODEL``               ``false``                       ``true``: a multi-model endpoint. No model loads at
                                                                       start; ``/models`` loads, lists, unloads and invokes
                                                                       them (see :mod:`.models_api`). Images built for
                                                                       multi-model serving set it.
``SAGEPACK_MODELS_DIR``                ``/opt/ml/models``              Where the platform extracts the archives; a load's
                                                                       ``url`` must lie under it (empty: anywhere).
``SAGEPACK_MEMORY_BUDGET_MB``          unset                           Memory the workers may use with their models, MiB;
                                                                       a load beyond it answers 507.
``SAGEPACK_MEMORY_FRACTION``           ``0.8``                         Unset budget: this fraction of the container's
                                                                       memory limit (cgroup, else the host's memory).
=====================================  ==============================  =====================================================
"""

from __future__ import annotations

from typing import Final

# --- environment: set by SageMaker ------------------------------------------------------
BIND_TO_PORT: Final = "SAGEMAKER_BIND_TO_PORT"
SAFE_PORT_RANGE: Final = "SAGEMAKER_SAFE_PORT_RANGE"
MODEL_SERVER_WORKERS: Final = "SAGEMAKER_MODEL_SERVER_WORKERS"
MODEL_SERVER_TIMEOUT: Final = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
PROGRAM: Final = "SAGEMAKER_PROGRAM"
BATCH: Final = "SAGEMAKER_BATCH"
MAX_PAYLOAD_IN_MB: Final = "SAGEMAKER_MAX_PAYLOAD_IN_MB"
BATCH_STRATEGY: Final = "SAGEMAKER_BATCH_STRATEGY"
MAX_CONCURRENT_TRANSFORMS: Final = "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"
DEFAULT_INVOCATIONS_ACCEPT: Final = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"

# --- environment: sagepack's own (the image build sets some from the model's config) -----
MODEL_DIR: Final = "SAGEPACK_MODEL_DIR"
HANDLER_DIR: Final = "SAGEPACK_HANDLER_DIR"
DEFAULT_ACCEPT: Final = "SAGEPACK_DEFAULT_ACCEPT"
DEFAULT_CONTENT_TYPE: Final = "SAGEPACK_DEFAULT_CONTENT_TYPE"
DEBUG: Final = "SAGEPACK_DEBUG"
CONFIG_MAX_CONCURRENT_TRANSFORMS: Final = "SAGEPACK_MAX_CONCURRENT_TRANSFORMS"
CONFIG_BATCH_STRATEGY: Final = "SAGEPACK_BATCH_STRATEGY"
CONFIG_MAX_PAYLOAD_IN_MB: Final = "SAGEPACK_MAX_PAYLOAD_IN_MB"
HOST: Final = "SAGEPACK_HOST"
THREADS: Final = "SAGEPACK_THREADS"
MAX_HUNG_THREADS: Final = "SAGEPACK_MAX_HUNG_THREADS"
GRACEFUL_TIMEOUT: Final = "SAGEPACK_GRACEFUL_TIMEOUT"
HEARTBEAT_TIMEOUT: Final = "SAGEPACK_HEARTBEAT_TIMEOUT"
ACCESS_LOG: Final = "SAGEPACK_ACCESS_LOG"
LOG_LEVEL: Final = "SAGEPACK_LOG_LEVEL"
TEXT_BODIES: Final = "SAGEPACK_TEXT_BODIES"
CONFIG_TIMEOUT_S: Final = "SAGEPACK_TIMEOUT_S"
MAX_REQUEST_MB: Final = "SAGEPACK_MAX_REQUEST_MB"
GPU: Final = "SAGEPACK_GPU"
NVIDIA_PROC_DIR: Final = "SAGEPACK_NVIDIA_PROC_DIR"
MULTI_MODEL: Final = "SAGEPACK_MULTI_MODEL"
MODELS_DIR: Final = "SAGEPACK_MODELS_DIR"
MEMORY_BUDGET_MB: Final = "SAGEPACK_MEMORY_BUDGET_MB"
MEMORY_FRACTION: Final = "SAGEPACK_MEMORY_FRACTION"

# --- environment: set by the NVIDIA container runtime or the user -------------------------
NVIDIA_VISIBLE_DEVICES: Final = "NVIDIA_VISIBLE_DEVICES"
CUDA_VISIBLE_DEVICES: Final = "CUDA_VISIBLE_DEVICES"

#: Every environment variable the server reads, in the order of the table above.
ALL: Final = (
    BIND_TO_PORT, SAFE_PORT_RANGE, MODEL_SERVER_WORKERS, MODEL_SERVER_TIMEOUT, PROGRAM, BATCH,
    MAX_PAYLOAD_IN_MB, BATCH_STRATEGY, MAX_CONCURRENT_TRANSFORMS, DEFAULT_INVOCATIONS_ACCEPT,
    MODEL_DIR, HANDLER_DIR, DEFAULT_ACCEPT, DEFAULT_CONTENT_TYPE, DEBUG,
    CONFIG_MAX_CONCURRENT_TRANSFORMS, CONFIG_BATCH_STRATEGY, CONFIG_MAX_PAYLOAD_IN_MB, HOST,
    THREADS, MAX_HUNG_THREADS, GRACEFUL_TIMEOUT, HEARTBEAT_TIMEOUT, ACCESS_LOG, LOG_LEVEL,
    TEXT_BODIES, CONFIG_TIMEOUT_S, MAX_REQUEST_MB, GPU, NVIDIA_PROC_DIR, NVIDIA_VISIBLE_DEVICES,
    CUDA_VISIBLE_DEVICES, MULTI_MODEL, MODELS_DIR, MEMORY_BUDGET_MB, MEMORY_FRACTION,
)

# --- defaults ------------------------------------------------------------------------------
DEFAULT_PORT: Final = 8080
DEFAULT_TIMEOUT_S: Final = 60.0
#: The invocation timeout of a batch transform job that does not set one (SageMaker's 600 s).
BATCH_TIMEOUT_S: Final = 600.0
DEFAULT_PROGRAM: Final = "inference.py"
DEFAULT_MODEL_DIR: Final = "/opt/ml/model"
DEFAULT_PAYLOAD_MB: Final = 6
MAX_PAYLOAD_MB: Final = 100
#: The largest ``SAGEPACK_MAX_REQUEST_MB``: asynchronous endpoints send up to 1 GB.
MAX_REQUEST_MB_LIMIT: Final = 1024
DEFAULT_NVIDIA_PROC_DIR: Final = "/proc/driver/nvidia/gpus"
DEFAULT_MODELS_DIR: Final = "/opt/ml/models"
DEFAULT_MEMORY_FRACTION: Final = 0.8
#: ``GET /models`` pages: ``max_results`` when not given, and its largest value.
DEFAULT_MAX_RESULTS: Final = 100
MAX_RESULTS_LIMIT: Final = 1000
#: The real-time limit of SageMaker: 6 MB each way (6,291,456 bytes).
REALTIME_MAX_BODY_BYTES: Final = 6 * 1024 * 1024
#: Responses larger than this fail on a real-time endpoint: the server warns about them.
REALTIME_MAX_RESPONSE_BYTES: Final = REALTIME_MAX_BODY_BYTES

# --- routes -------------------------------------------------------------------------------
PING: Final = "/ping"
INVOCATIONS: Final = "/invocations"
EXECUTION_PARAMETERS: Final = "/execution-parameters"
#: Multi-model endpoints: ``POST``/``GET /models``, ``GET``/``DELETE /models/<name>``,
#: ``POST /models/<name>/invoke``.
MODELS: Final = "/models"
INVOKE_SUFFIX: Final = "/invoke"
# (The image label that goes with SAGEPACK_MULTI_MODEL=true is sagepack.labels.MULTI_MODELS.)

# --- headers (lower case, as ASGI gives them) ----------------------------------------------
CUSTOM_ATTRIBUTES_HEADER: Final = "x-amzn-sagemaker-custom-attributes"
INFERENCE_ID_HEADER: Final = "x-amzn-sagemaker-inference-id"
TARGET_MODEL_HEADER: Final = "x-amzn-sagemaker-target-model"

# --- media types -------------------------------------------------------------------------
JSON: Final = "application/json"
JSONLINES: Final = "application/jsonlines"
CSV: Final = "text/csv"
NPY: Final = "application/x-npy"
ANY: Final = "*/*"
#: Accepted spellings of JSON Lines, mapped to the canonical one.
JSONLINES_ALIASES: Final = frozenset(
    {"application/jsonlines", "application/x-jsonlines", "application/jsonl", "application/json-lines"}
)

BATCH_STRATEGIES: Final = ("MULTI_RECORD", "SINGLE_RECORD")

# --- headers SageMaker may send that the server ignores (host-side checks send them) ------
TARGET_VARIANT_HEADER: Final = "x-amzn-sagemaker-target-variant"
ENABLE_EXPLANATIONS_HEADER: Final = "x-amzn-sagemaker-enable-explanations"

#: How the supervisor logs each distinct warning ``model_fn`` raised (once per warning);
#: ``invoke test`` reads these lines back into its report.
LOAD_WARNING_LOG: Final = "loading the model warned: "
