"""Characters: the model of a character, its file format, character cards, and corpus-grounded characters.

This package imports nothing else of characterlab's but its errors: everything else builds on it.
"""

from characterlab.characters._character_file import (
    CHARACTER_SUFFIX,
    dump_character,
    load_character,
    parse_character,
    save_character,
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
    RegexScorer,
    SentimentScorer,
    Trait,
    TraitScorer,
)

__all__ = [
    "CHARACTER_SCHEMA",
    "CHARACTER_SUFFIX",
    "Boundary",
    "CardFields",
    "Character",
    "Corpus",
    "CorpusSource",
    "Exchange",
    "KeywordsScorer",
    "LanguageScorer",
    "Passage",
    "RegexScorer",
    "SentimentScorer",
    "Trait",
    "TraitScorer",
    "dump_character",
    "expand_corpus_path",
    "load_character",
    "load_corpus",
    "parse_character",
    "resolve_corpus",
    "save_character",
    "substitute_macros",
]
