"""Every default number hia uses, in one place.

Change a value here and it changes everywhere; every public function that takes one of these
as a keyword argument also lets a caller override it per call.
"""

# Goals
DEFAULT_TOLERANCE = 0.5  # |r_i - G_i| at or below this counts as "goal met" for goal_completion
MAX_GOAL_ATTRIBUTES = 5

# HelpSteer's 0-4 scale, which the built-in attributes and the trained reference use
SCALE_LOW, SCALE_HIGH = 0.0, 4.0

# The rubric's bands, which the exact reference measures (hia/rewards/exact.py). Edge i lies
# between levels i and i+1; the rubric texts in attributes.py state the same numbers.
VERBOSITY_WORD_EDGES = (20, 60, 150, 300)  # words
COMPLEXITY_GRADE_EDGES = (4.5, 7.5, 10.5, 13.5)  # Flesch-Kincaid reading grade

# Data
DEV_SPLIT_EVERY = 3  # one prompt in three (by text hash) is for development: calibration, choosing defaults

# Offline calibration of the learned heuristic (`hia calibrate`), on development prompts
CALIBRATION_TRAIN_PROMPTS = 12
CALIBRATION_HELDOUT_PROMPTS = 6
CALIBRATION_REWRITES = 4  # rewrites per prompt, each answered once
CALIBRATION_POLICY_CALLS = 72
CALIBRATION_MAX_PROMPT_WORDS = 100

# Reference models
UNJUDGEABLE_SPEARMAN = 0.3  # a goal on an attribute the reference agrees with humans less than this gets a warning
CV_FOLDS = 5  # cross-validation folds (grouped by prompt or question) in training reports and calibration
REFERENCE_PCA_COMPONENTS = 8  # embedding components, when the attribute model uses embeddings
SCALE_MAP_QUANTILES = 41  # quantiles matched when mapping the attribute model onto the label scale
REFERENCE_RIDGE_ALPHAS = tuple(10 ** (-1 + 5 * i / 11) for i in range(12))  # 0.1 to 10,000, log-spaced

# Search
DEFAULT_BUDGET = 2  # response-policy calls per alignment
MAX_BUDGET = 64  # the ceiling on one alignment's policy calls, wherever a budget comes from (API, CLI, proxy, profile)
DEFAULT_METHOD = "hia"
DEFAULT_OBJECTIVE = "euclidean"
HIA_CANDIDATES_PER_ROUND = 8  # rewrites HIA asks the optimizer for, per parent prompt
BEAM_WIDTH = 2  # frontier size W
BEAM_EXPANSIONS = 2  # rewrites evaluated per frontier prompt per round (plain beam)
MAX_EMPTY_ROUNDS = 2  # consecutive rounds that got no answer (endpoint down) before a search stops

# Stage 1 filter
DUPLICATE_SIMILARITY = 0.95  # cosine at or above this to an earlier candidate = near-duplicate
DRIFT_SIMILARITY = 0.60  # cosine below this to the user's prompt = drifted (faithful rewrites measured 0.79-0.93)
MIN_PROMPT_CHARS = 3
ANSWER_LENGTH_RATIO = 4.0  # a "rewrite" this many times longer than the prompt (and ...)
ANSWER_MIN_EXTRA_WORDS = 60  # ... at least this many words longer) is an answer, not a prompt

# Heuristic reward models (stage 2)
PRIOR_RIDGE_ALPHAS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # the question prior's penalty, chosen by cross-validation
PRIOR_HASH_DIMENSION = 2048  # hashed word and word-pair features the question prior reads
HEURISTIC_ANCHOR_GAIN = 6.0  # zero-shot: how far a unit of anchor-similarity difference moves a prediction
HEURISTIC_CUE_STEP = 0.6  # zero-shot: share of the half-range one explicit cue ("in one sentence") adds
HEURISTIC_RUBRIC_COMPLIANCE = 0.8  # zero-shot: share of the way to a quoted rubric level the answer is predicted to go
HEURISTIC_STATED_COMPLIANCE = 0.5  # zero-shot: the same for a target stated as a number ("verbosity 1 of 4")
HEURISTIC_FREE_COMPLIANCE = 0.5  # the same for the level a free-form rewrite asks for, as the zero-shot model reads it
# What the shipped heuristic learns about a policy (hia/rewards/policy_heuristic.py): a Bayesian
# linear model per attribute, its prior centred on the compliances above.
HEURISTIC_PRIOR_SD_COMPLIANCE = 0.25  # prior sd of each compliance
HEURISTIC_PRIOR_SD_OFFSET = 0.5  # prior sd of the policy's offset per kind of instruction
HEURISTIC_PRIOR_SD_PHRASING = 0.25  # prior sd of each template phrasing's effect
HEURISTIC_NOISE_SD = 0.5  # sd of one answer's score around its prompt's expected score (seeds, sampling)
POLICY_MEMORY_MAX_EVIDENCE = 2000  # answers' worth of evidence kept per policy; older evidence fades as new arrives
POLICY_MEMORY_FLUSH_S = 5.0  # what a process learned about a policy is written to its file at most this often (and at exit)
LEARNED_HEURISTIC_ALPHA = 3.0  # ridge penalty of the learned correction: larger trusts the zero-shot base more
LEARNED_HEURISTIC_MAX_EVIDENCE = 2000  # newest (prompt, scores) examples kept
LEARNED_HEURISTIC_MIN_EVIDENCE = 5  # below this many examples of an attribute, the base alone predicts it

# Response policy
POLICY_TEMPERATURE = 0.7
POLICY_MAX_TOKENS = 256
POLICY_BASE_SEED = 1234  # sample i of an alignment uses seed POLICY_BASE_SEED + i

# Prompt optimizer
OPTIMIZER_TEMPERATURE = 0.9
OPTIMIZER_MAX_TOKENS = 320
OPTIMIZER_SEED = 7
OPTIMIZER_MAX_CALLS = 2  # LLM optimizer calls per proposal, until it has the rewrites it was asked for

# Reference models beyond the attribute model
JUDGE_TOP_LOGPROBS = 10
JUDGE_CONCURRENCY = 4  # judge calls in flight at once
JUDGE_MAX_RESPONSE_CHARS = 4000  # longer answers are cut before the judge reads them
PREFERENCE_C = 0.01  # inverse regularisation strength of the community (Bradley-Terry) model
PREFERENCE_MIN_PAIRS = 50  # fewer training pairs than this is an error
TRANSFORMERS_BATCH_SIZE = 8
TRANSFORMERS_MAX_LENGTH = 1024  # tokens of (prompt, response) a Hugging Face reward model reads

# Transport
REQUEST_TIMEOUT_S = 120.0
MAX_RETRIES = 4  # transport retries per call, after the first attempt
RETRY_INITIAL_WAIT_S = 0.5
RETRY_MAX_WAIT_S = 20.0
CLIENT_SHARDS = 8  # async clients (connection pools) per endpoint per event loop
RATE_LIMIT_BURST = 0  # requests a rate limiter lets through beyond the rate, in one window and after an idle spell
RATE_LIMIT_WINDOW_S = 1.1  # the rate limiter's sliding window: a second, and room for the delay between admission and arrival
RATE_LIMIT_FRESH_S = 0.05  # an admission answered later than this (a remote limiter's round trip) is handed back and asked again
REDIS_PREFIX = "hia"  # every key hia keeps in a shared Redis starts with this
REDIS_TIMEOUT_S = 2.0  # a Redis that does not answer within this is unavailable: requests fail closed
REDIS_LEASE_S = 900.0  # a reserved call not settled within this (its replica died) is freed
RATE_LIMIT_STALE_TRIES = 20  # slow answers in a row after which a request goes anyway, with a warning

# Embedded local models
EMBEDDED_OPTIMIZER = "template"  # "template", "smollm2" or "qwen"; measured in benchmarks/optimizers.py
EMBEDDED_POLICY = "medium"  # "medium" (Qwen2.5-Coder-1.5B) or "small" (the 0.5B: twice as fast, less often right)
LOCAL_SERVER_START_TIMEOUT_S = 90.0
LOCAL_CONTEXT_TOKENS = 2048
EMBEDDING_BATCH_SIZE = 64
EMBEDDING_MAX_TOKENS = 256  # longer texts are cut, as sentence-transformers cuts them for all-MiniLM-L6-v2
EMBEDDING_CACHE_SIZE = 50_000  # embeddings kept in memory per Embedder
TEXT_CACHE_SIZE = 8192  # normalised texts the filters keep, so a prompt compared often is normalised once

# Batches and the proxy
BATCH_CONCURRENCY = 8  # alignments in flight at once in align_many
ALLOCATION_PATIENCE = 2  # align_many(total_budget=): extra calls in a row without a better answer before an item stops
RAY_WORKERS = 2  # worker actors of the Ray engine (align_many(engine="ray"), hia batch --engine ray)
RAY_WORKER_CPUS = 1.0  # CPUs Ray sets aside for each worker
RAY_MAX_LOCAL_WORKERS_PER_CORE = 2  # more workers than this on a local cluster only compete for its cores and memory
RAY_ITEM_ATTEMPTS = 3  # times an item is sent again after its worker died, before it is recorded as WorkerLost
RAY_START_TIMEOUT_S = 300.0  # for the workers to build their pipelines (models load on each)
SERVE_PORT = 8000
SERVE_MAX_BODY_BYTES = 4 * 1024 * 1024  # larger request bodies get 413, before they are read whole
SERVE_BODY_TIMEOUT_S = 30.0  # a client that has not sent its whole body by then gets 408
SERVE_REQUEST_TIMEOUT_S = 300.0  # an aligned request still searching after this gets 504
SERVE_STREAM_KEEPALIVE_S = 2.0  # a comment line on an open stream this often while the search runs
TRACE_MAX_BYTES = 100 * 1024 * 1024  # a trace file past this is rotated
TRACE_BACKUPS = 3  # rotated trace files kept
TRACE_RECORD_MAX_BYTES = 256 * 1024  # a larger trace record keeps its scores and chosen answer only
SERVE_BACKLOG = 2048  # connections waiting to be accepted; many clients connecting at once are not reset
SERVE_HEADER_TIMEOUT_S = 10.0  # a connection whose request headers have not all arrived by then is closed
SERVE_MAX_CONNECTIONS_PER_CLIENT = 256  # open connections one client address may hold; more are closed at once
SERVE_KEEPALIVE_S = 5.0  # an idle keep-alive connection is closed after this
SERVE_READY_TIMEOUT_S = 5.0  # the readiness route's wait for the upstream
SERVE_STOP_TIMEOUT_S = 30.0  # how long stopping waits for requests in flight
MAX_TOKENS_PER_CALL = 1_000_000  # a max_tokens beyond this is a mistake, refused before any call
TOKEN_HOLD_CHARS_PER_TOKEN = 3  # a prompt's tokens are held as its characters over this (English runs about 4)
TOKEN_HOLD_REWRITE_TOKENS = 64  # more per aligned call: what a rewrite adds to the prompt
TOKEN_HOLD_DEFAULT_ANSWER = 1024  # the answer tokens a passthrough request without max_tokens holds
VERBOSITY_KNOB_LEVELS = {"low": 1.0, "medium": 2.0, "high": 3.0}  # GPT-5's verbosity as a goal on hia's 0-4 scale
MIN_TOKEN_CHARS = 16  # the proxy's bearer token: shorter ones are refused

# Preference pairs from alignment (hia export-pairs). Measured by benchmarks/pair_margins.py on the
# 51 development prompts of the HelpSteer sample (531 pairs; small): where the trained reference's
# euclidean rewards of two answers differ by under 0.5, it orders them as the human ratings do in
# 50-60% of untied pairs (its error); from 0.5 to 1.5 in 66-75%; over 1.5 in 91% (easy pairs).
PAIR_MIN_MARGIN = 0.5
PAIR_MAX_MARGIN = 1.5
