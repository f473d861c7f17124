"""Dataset loaders: HelpSteer/HelpSteer2 ratings, ComPRed and Stack Exchange community preferences."""

from hia.data._records import Loaded
from hia.data.compred import load_compred, load_compred_prompts
from hia.data.helpsteer import load_helpsteer, load_helpsteer_pairs
from hia.data.stackexchange import load_stackexchange_pairs
from hia.data.types import CommunityPrompt, PreferencePair, RatedResponse
from hia.errors import DataError

__all__ = ["DataError", "Loaded", "RatedResponse", "PreferencePair", "CommunityPrompt", "load_helpsteer",
           "load_helpsteer_pairs", "load_compred", "load_compred_prompts", "load_stackexchange_pairs"]
