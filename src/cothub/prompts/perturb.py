"""Named, seeded transforms of few-shot exemplars: what the exemplars must carry for CoT to work.

    cothub run gsm8k --model openai/gpt-4o-mini --perturb invalid-rationale --seed 1

Each transform is a pure function of the exemplar list and a seed, so a perturbed prompt is
reproducible, and the run manifest records its name, seed and the transformed exemplars (only
when ``--perturb`` is given: every other run keeps the id it always had). The set follows the
ablations of the CoT literature:

- ``wrong-answers``: each final answer replaced by another exemplar's (a derangement), or by a
  plausible wrong value where all answers agree (Min et al. 2022, arXiv:2202.12837; Wang et al.
  2023, "Towards Understanding Chain-of-Thought Prompting", arXiv:2212.10001).
- ``invalid-rationale``: each rationale taken from another exemplar: coherent text, wrong logic
  for this question (Wang et al. 2023, arXiv:2212.10001).
- ``shuffled-steps``: the reasoning steps (lines; sentences for one-line rationales) permuted.
- ``no-rationale``: the rationale removed, the answer kept (answer-only exemplars in a CoT
  prompt).
- ``irrelevant-rationale``: the rationale replaced by as many steps of unrelated text
  (Madaan & Yazdanbakhsh 2022, arXiv:2209.07686).
- ``random-labels``: multiple choice: each answer replaced by a label drawn uniformly from the
  label space (Min et al. 2022), the correct one included.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from cothub.errors import CothubError
from cothub.prompts.fewshot import Exemplar

Transform = Callable[[Sequence[Exemplar], random.Random], list[Exemplar]]


@dataclass(frozen=True, slots=True)
class Perturbation:
    """One named prompt transform."""

    name: str
    summary: str
    """One line for ``--help`` and the study table."""
    transform: Transform
    needs_rationale: bool = False
    """True when the transform only means something for exemplars with rationales (CoT)."""


# ---- helpers -------------------------------------------------------------------------------

_NUMBER = re.compile(r"^(-?)\$?([\d,]*\.?\d+)(.*)$")
_LETTER = re.compile(r"^(\(?)([A-Z])(\)?)$")
_OPTION = re.compile(r"\(([A-Z])\)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _edges(text: str) -> tuple[str, str, str]:
    """(leading whitespace, body, trailing whitespace): transforms keep a template's spacing."""
    body = text.strip()
    if not body:
        return text, "", ""
    start = text.index(body)
    return text[:start], body, text[start + len(body) :]


def _derangement(n: int, rng: random.Random) -> list[int]:
    """A permutation of ``range(n)`` with no fixed point (n >= 2): a seeded cyclic shift of a
    seeded shuffle, so every exemplar gets another's part."""
    order = list(range(n))
    rng.shuffle(order)
    shift = rng.randrange(1, n)
    out = [0] * n
    for i in range(n):
        out[order[i]] = order[(i + shift) % n]
    return out


def _steps(body: str) -> tuple[list[str], str]:
    """A rationale's steps and the joiner that puts them back: lines, else sentences."""
    lines = [ln for ln in body.split("\n") if ln.strip()]
    if len(lines) > 1:
        return lines, "\n"
    return [s for s in _SENTENCE.split(body) if s], " "


def _wrong_value(answer: str, others: Sequence[str], rng: random.Random) -> str:
    """A plausible wrong answer: a nearby number, another option letter, another answer."""
    m = _NUMBER.match(answer)
    if m:
        sign, digits, rest = m.groups()
        value = float(digits.replace(",", ""))
        delta = rng.choice([1, 2, 3, 5, 10]) * rng.choice([-1, 1])
        new = value + delta if value + delta >= 0 or sign else value + abs(delta)
        text = f"{new:g}" if "." in digits else str(int(new))
        return f"{sign}{text}{rest}"
    letter = _LETTER.match(answer)
    if letter:
        left, ch, right = letter.groups()
        pool = [c for c in "ABCD" if c != ch]
        return f"{left}{rng.choice(pool)}{right}"
    pool = [o for o in others if o != answer]
    return rng.choice(pool) if pool else f"not {answer}"


# ---- the transforms ------------------------------------------------------------------------


def _wrong_answers(exemplars: Sequence[Exemplar], rng: random.Random) -> list[Exemplar]:
    answers = [e.answer for e in exemplars]
    if len(exemplars) < 2:
        return [replace(e, answer=_wrong_value(e.answer, answers, rng)) for e in exemplars]
    perm = _derangement(len(exemplars), rng)
    out = []
    for i, e in enumerate(exemplars):
        new = answers[perm[i]]
        if new.strip() == e.answer.strip():  # two exemplars share an answer: a wrong value
            new = _wrong_value(e.answer, answers, rng)
        out.append(replace(e, answer=new))
    return out


def _invalid_rationale(exemplars: Sequence[Exemplar], rng: random.Random) -> list[Exemplar]:
    if len(exemplars) < 2:
        return list(exemplars)
    perm = _derangement(len(exemplars), rng)
    out = []
    for i, e in enumerate(exemplars):
        lead, _, trail = _edges(e.rationale)
        out.append(replace(e, rationale=lead + exemplars[perm[i]].rationale.strip() + trail))
    return out


def _shuffled_steps(exemplars: Sequence[Exemplar], rng: random.Random) -> list[Exemplar]:
    out = []
    for e in exemplars:
        lead, body, trail = _edges(e.rationale)
        steps, joiner = _steps(body)
        if len(steps) > 1:
            order = list(range(len(steps)))
            while order == sorted(order):  # a permutation that moves something
                rng.shuffle(order)
            body = joiner.join(steps[i] for i in order)
        out.append(replace(e, rationale=lead + body + trail))
    return out


def _no_rationale(exemplars: Sequence[Exemplar], rng: random.Random) -> list[Exemplar]:
    out = []
    for e in exemplars:
        lead, _, trail = _edges(e.rationale)
        out.append(replace(e, rationale=lead or trail))  # one separator, as the template had
    return out


_FILLER = (
    "The library opens at nine on weekdays.",
    "Rivers usually flow toward the sea.",
    "A violin has four strings.",
    "The museum added a new wing last spring.",
    "Many birds migrate south for the winter.",
    "The recipe calls for fresh basil.",
    "Trains on this line run every twenty minutes.",
    "The garden fence was painted green.",
    "Mountains are often colder at the top.",
    "The festival is held in the town square.",
    "Cats tend to sleep for much of the day.",
    "The bridge was built from local stone.",
)


def _irrelevant_rationale(exemplars: Sequence[Exemplar], rng: random.Random) -> list[Exemplar]:
    out = []
    for e in exemplars:
        lead, body, trail = _edges(e.rationale)
        steps, joiner = _steps(body)
        filler = [rng.choice(_FILLER) for _ in steps] if body else []
        out.append(replace(e, rationale=lead + joiner.join(filler) + trail))
    return out


def _random_labels(exemplars: Sequence[Exemplar], rng: random.Random) -> list[Exemplar]:
    out = []
    space = sorted({e.answer for e in exemplars})
    for e in exemplars:
        letter = _LETTER.match(e.answer.strip())
        if letter:
            left, _, right = letter.groups()
            options = sorted(set(_OPTION.findall(e.question))) or list("ABCD")
            new = f"{left}{rng.choice(options)}{right}"
        else:
            new = rng.choice(space)
        out.append(replace(e, answer=new))
    return out


PERTURBATIONS: dict[str, Perturbation] = {
    p.name: p
    for p in (
        Perturbation("wrong-answers", "final answers from another exemplar", _wrong_answers),
        Perturbation(
            "invalid-rationale", "reasoning from another exemplar", _invalid_rationale, True
        ),
        Perturbation("shuffled-steps", "reasoning steps in a random order", _shuffled_steps, True),
        Perturbation("no-rationale", "answers only, no reasoning", _no_rationale, True),
        Perturbation(
            "irrelevant-rationale", "unrelated sentences as reasoning", _irrelevant_rationale, True
        ),
        Perturbation("random-labels", "multiple-choice labels drawn at random", _random_labels),
    )
}
"""Every perturbation by name: what ``--perturb`` takes and the ``perturb`` study runs."""


def get_perturbation(name: str) -> Perturbation:
    """The perturbation ``name``, or a one-line error naming the known ones."""
    p = PERTURBATIONS.get(name.strip().lower())
    if p is None:
        raise CothubError(
            f"unknown perturbation {name!r}; choose one of " + ", ".join(PERTURBATIONS)
        )
    return p


def perturb(exemplars: Sequence[Exemplar], name: str, seed: int = 0) -> list[Exemplar]:
    """``exemplars`` transformed by the perturbation ``name``, reproducibly for a seed.

    The generator is seeded with the name and the seed, so two perturbations of one run draw
    independently and one perturbation gives the same prompt on every machine."""
    p = get_perturbation(name)
    return p.transform(list(exemplars), random.Random(f"{p.name}:{seed}"))


def describe(name: str, seed: int, groups: Mapping[str, Sequence[Exemplar]]) -> dict[str, object]:
    """What the manifest records of a perturbation: its name, seed, and every transformed
    exemplar (per group: a BBH task, an MMLU subject; ``""`` for a task with one set)."""
    return {
        "name": get_perturbation(name).name,
        "seed": seed,
        "exemplars": {
            g: [{"question": e.question, "rationale": e.rationale, "answer": e.answer} for e in ex]
            for g, ex in groups.items()
        },
    }


def perturbed(
    exemplars: Sequence[Exemplar], name: str | None, seed: int, group: str = ""
) -> tuple[list[Exemplar], dict[str, object] | None]:
    """(exemplars, manifest record): unchanged and None when ``name`` is None, else transformed.

    The one call a task makes where its exemplars are chosen."""
    if name is None:
        return list(exemplars), None
    out = perturb(exemplars, name, seed)
    return out, describe(name, seed, {group: out})
