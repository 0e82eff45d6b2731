"""Characters: the model of a character, its file format, character cards, and corpus-grounded characters.

This package imports nothing else of characterlab's but its errors: everything else builds on it.
"""

from characterlab.characters._cards import (
    CARD_EXTENSION_KEY,
    CARD_EXTENSION_SCHEMA,
    CardFormat,
    card_from_json,
    card_png_bytes,
    card_to_v2,
    card_to_v3,
    parse_card,
    read_card,
    write_card,
)
from characterlab.characters._character_file import (
    CHARACTER_SUFFIX,
    dump_character,
    load_character,
    parse_character,
    save_character,
)
from characterlab.characters._constitution import (
    CONSTITUTION_STRENGTH,
    ConstitutionTrait,
    constitution_character,
    read_constitution,
)
from characterlab.characters._corpus import Corpus, Passage, expand_corpus_path, load_corpus, resolve_corpus
from characterlab.characters._macros import substitute_macros
from characterlab.characters._model import (
    CHARACTER_SCHEMA,
    Boundary,
    CardFields,
    Character,
    CorpusSource,
    Exchange,
    KeywordsScorer,
    LanguageScorer,
    LengthScorer,
    RegexScorer,
    SentimentScorer,
    Trait,
    TraitScorer,
)
from characterlab.characters._template import character_template

__all__ = [
    "CARD_EXTENSION_KEY",
    "CARD_EXTENSION_SCHEMA",
    "CHARACTER_SCHEMA",
    "CHARACTER_SUFFIX",
    "CONSTITUTION_STRENGTH",
    "Boundary",
    "CardFields",
    "CardFormat",
    "Character",
    "ConstitutionTrait",
    "Corpus",
    "CorpusSource",
    "Exchange",
    "KeywordsScorer",
    "LanguageScorer",
    "LengthScorer",
    "Passage",
    "RegexScorer",
    "SentimentScorer",
    "Trait",
    "TraitScorer",
    "card_from_json",
    "card_png_bytes",
    "card_to_v2",
    "card_to_v3",
    "character_template",
    "constitution_character",
    "dump_character",
    "expand_corpus_path",
    "load_character",
    "load_corpus",
    "parse_card",
    "parse_character",
    "read_card",
    "read_constitution",
    "resolve_corpus",
    "save_character",
    "substitute_macros",
    "write_card",
]
