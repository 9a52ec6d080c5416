"""A synthetic multitask corpus from a small phrase grammar, so that no data file is needed.

Four tasks share the same generated sentences: two tagging tasks (``syn_pos``, ``syn_chunk``)
and two classification tasks (``syn_topic``, ``syn_polarity``) whose labels depend on the
phrase structure the tagging tasks describe.
"""

from __future__ import annotations

import numpy as np

from skillgym.envs.mtnas.corpus import Corpus
from skillgym.envs.mtnas.tasks import CLASSIFICATION, TAGGING, RawTask

SYNTHETIC_TASKS = ("syn_pos", "syn_chunk", "syn_topic", "syn_polarity")

_DETERMINERS = ["the", "a", "this", "every"]
_NOUNS = {
    "sports": ["team", "coach", "match", "ball", "league", "player"],
    "music": ["band", "song", "album", "singer", "guitar", "concert"],
    "food": ["soup", "bread", "chef", "pasta", "cake", "kitchen"],
}
_ADJECTIVES = {
    "1": ["great", "lovely", "brilliant", "fine", "clean"],
    "0": ["awful", "dull", "broken", "poor", "noisy"],
}
_VERBS = ["likes", "plays", "finds", "makes", "sees", "keeps"]
_PREPOSITIONS = ["in", "near", "with", "after"]
# Words that are nouns after a determiner and verbs after a noun phrase, so that a tagger needs
# context and cannot only memorise the word.
_AMBIGUOUS = ["play", "run", "cook", "record"]


def _noun_phrase(rng: np.random.Generator, topic: str, polarity: str | None) -> list[tuple]:
    words = [(_DETERMINERS[rng.integers(len(_DETERMINERS))], "DT", "B-NP")]
    if polarity is not None:
        adjectives = _ADJECTIVES[polarity]
        words.append((adjectives[rng.integers(len(adjectives))], "JJ", "I-NP"))
    nouns = _NOUNS[topic] + _AMBIGUOUS
    words.append((nouns[rng.integers(len(nouns))], "NN", "I-NP"))
    return words


def _synthetic_sentence(rng: np.random.Generator) -> tuple[list[tuple], str, str]:
    """One sentence: ``(word, POS, chunk)`` triples, a topic label and a polarity label.

    The topic is the topic of the subject noun phrase; the polarity is that of the object's
    adjective, flipped by ``not`` in the verb phrase: both labels depend on the phrase
    structure the tagging tasks describe.
    """
    topic = list(_NOUNS)[rng.integers(len(_NOUNS))]
    polarity = str(rng.integers(2))
    negated = bool(rng.random() < 0.3)
    surface_polarity = str(1 - int(polarity)) if negated else polarity
    words = _noun_phrase(rng, topic, None)
    if negated:
        words += [("does", "VBZ", "B-VP"), ("not", "RB", "I-VP")]
        verbs = [verb[:-1] for verb in _VERBS] + _AMBIGUOUS
        words.append((verbs[rng.integers(len(verbs))], "VB", "I-VP"))
    else:
        verbs = _VERBS + [word + "s" for word in _AMBIGUOUS]
        words.append((verbs[rng.integers(len(verbs))], "VBZ", "B-VP"))
    other_topic = list(_NOUNS)[rng.integers(len(_NOUNS))]
    words += _noun_phrase(rng, other_topic, surface_polarity)
    if rng.random() < 0.5:
        words.append((_PREPOSITIONS[rng.integers(len(_PREPOSITIONS))], "IN", "B-PP"))
        words += _noun_phrase(rng, other_topic, None)
    return words, topic, polarity


def synthetic_tasks(
    sentences_per_split: tuple[int, int, int] = (160, 40, 40), seed: int = 0
) -> list[RawTask]:
    """A small synthetic multitask corpus from a phrase grammar, so that no data file is needed.

    Four tasks share the same generated sentences: ``syn_pos`` and ``syn_chunk`` (tagging) and
    ``syn_topic`` and ``syn_polarity`` (classification; labels depend on the phrase structure).

    Args:
        sentences_per_split: the number of (train, validation, test) sentences.
        seed: the generator seed; the same seed gives the same corpus.
    """
    if len(sentences_per_split) != 3 or min(sentences_per_split) < 1:
        raise ValueError(
            "sentences_per_split must be three positive counts (train, validation, test), "
            f"got {sentences_per_split!r}"
        )
    rng = np.random.default_rng(seed)
    splits = [[_synthetic_sentence(rng) for _ in range(count)] for count in sentences_per_split]

    def task(name: str, kind: str, pick) -> RawTask:
        encoded = [[pick(sentence) for sentence in split] for split in splits]
        return RawTask(name, kind, *encoded)

    def words(sentence):
        return [word for word, _, _ in sentence[0]]

    return [
        task("syn_pos", TAGGING, lambda s: (words(s), [pos for _, pos, _ in s[0]])),
        task("syn_chunk", TAGGING, lambda s: (words(s), [chunk for _, _, chunk in s[0]])),
        task("syn_topic", CLASSIFICATION, lambda s: (words(s), s[1])),
        task("syn_polarity", CLASSIFICATION, lambda s: (words(s), s[2])),
    ]


def synthetic_corpus(
    sentences_per_split: tuple[int, int, int] = (160, 40, 40), seed: int = 0
) -> Corpus:
    """The encoded synthetic corpus (see :func:`synthetic_tasks`)."""
    return Corpus(synthetic_tasks(sentences_per_split, seed), max_length=None)
