"""Dataset loaders: HelpSteer/HelpSteer2 ratings, ComPRed and Stack Exchange community preferences."""

from ..errors import DataError
from ._records import Loaded
from .compred import load_compred, load_compred_prompts
from .helpsteer import load_helpsteer, load_helpsteer_pairs
from .stackexchange import load_stackexchange_pairs
from .types import CommunityPrompt, PreferencePair, RatedResponse

__all__ = ["DataError", "Loaded", "RatedResponse", "PreferencePair", "CommunityPrompt", "load_helpsteer",
           "load_helpsteer_pairs", "load_compred", "load_compred_prompts", "load_stackexchange_pairs"]
