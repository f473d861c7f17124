"""Every default number hia uses, in one place.

Change a value here and it changes everywhere; every public function that takes one of these
as a keyword argument also lets a caller override it per call.
"""

# Goals
DEFAULT_TOLERANCE = 0.5  # |r_i - G_i| at or below this counts as "goal met" for goal_completion
MAX_GOAL_ATTRIBUTES = 5

# Search
DEFAULT_BUDGET = 2  # response-policy calls per alignment
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

# Response policy
POLICY_TEMPERATURE = 0.7
POLICY_MAX_TOKENS = 256
POLICY_BASE_SEED = 1234  # sample i of an alignment uses seed POLICY_BASE_SEED + i

# Prompt optimizer
OPTIMIZER_TEMPERATURE = 0.9
OPTIMIZER_MAX_TOKENS = 320
OPTIMIZER_SEED = 7

# Reference LLM judge
JUDGE_TOP_LOGPROBS = 10

# Transport
REQUEST_TIMEOUT_S = 120.0
MAX_RETRIES = 4  # transport retries per call, after the first attempt
RETRY_INITIAL_WAIT_S = 0.5
RETRY_MAX_WAIT_S = 20.0
CLIENT_SHARDS = 8  # async clients (connection pools) per endpoint per event loop

# Embedded local models
LOCAL_SERVER_START_TIMEOUT_S = 90.0
LOCAL_CONTEXT_TOKENS = 2048
EMBEDDING_BATCH_SIZE = 64
