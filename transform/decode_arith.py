"""Arithmetic-aware decoding: use the form's hard rules to settle digits the reader was unsure of.

FORMS.md's lesson is the policy: a number may be changed only where the machine was unsure, and
every change is recorded. Concretely:

- Only *unsure boxes* may change: in a field the reader marked unsure (or malformed), the boxes
  whose most probable symbol is below ``box_threshold`` (at least the least confident box). A
  confidently read field is fixed, so a confident reading that breaks a rule stays as read.
- An unsure box may take any symbol (0-9, or "no digit" in a leading box) with probability at least
  ``box_floor``; a field's candidates are the valid numbers so reachable, with the product of its
  boxes' probabilities.
- Unsure fields coupled by rules form components; each is solved by a depth-first search that
  solves every "sum" rule with one unknown directly (the value is implied, and accepted only if it
  is one of the field's candidates) and branches only where no rule pins a field. The search is
  capped (``max_nodes``) and runs on every form: typical forms need a handful of nodes.
- A component whose satisfying assignment is UNIQUE, where every unsure field is part of at least
  one applicable equality, is *resolved*: changed fields get a ``Correction(by="auto")`` with the
  boxes changed, from/to symbols and probabilities; fields whose reading was already the unique
  solution are *confirmed* (recorded as a Correction with ``old == new``). Several solutions or
  none: nothing changes, the best assignment is kept as a ``Suggestion`` for the stewards.

Whether a resolved form may be ``verified`` is decided in ``transform.validate``: confirmed, yes
(reason AUTO_CONFIRMED); corrected, only when configured (reason AUTO_CORRECTED; see there).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from schemas.records import CLASS_BLANK, CLASS_NODIGIT, Correction, FieldReading, Suggestion
from transform.rules import HARD, Rule, Values, checkable, may_be_empty

NONE = 10  # merged "no digit" symbol (X mark or blank box)


@dataclass(frozen=True)
class ArithSettings:
    # Inside an unsure field, a box below this may change: about the reader's acceptance threshold,
    # so every box not confidently read is free. At 0.9 (boxes at 0.9-0.999 held fixed), a fax
    # box misread at p 0.977 was taken as fact and the arithmetic "corrected" the field it shares
    # an equation with to match: verified with two wrong numbers (1 of 1,000 forms).
    box_threshold: float = 0.999
    box_floor: float = 0.02  # alternatives of an unsure box at or above this are considered
    max_candidates: int = 48  # per field, most probable first
    max_nodes: int = 20_000  # search budget per component
    max_solutions: int = 16  # stop counting beyond this (uniqueness is all that matters)
    bubble_weight: float = 4.0  # a candidate equal to a confident bubble reading ranks this much higher


@dataclass(frozen=True)
class Candidate:
    value: int | None
    prob: float
    symbols: tuple[int, ...]
    changed: tuple[int, ...]  # box indices (0-based) whose symbol differs from the reading


@dataclass
class ArithResult:
    values: Values  # the form's values after automatic corrections
    corrections: list[Correction] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    resolved: set[str] = field(default_factory=set)  # unsure fields settled by a unique solution
    unresolved: set[str] = field(default_factory=set)
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)  # each unsure field's, searched
    nodes: int = 0


def confident_bubbles(r: FieldReading | None) -> int | None:
    """The number the field's blackened bubbles give, when they were read confidently."""
    return r.bubble_value if r is not None and r.bubble_confident else None


def symbol_probs(probs: list[float]) -> np.ndarray:
    """12 class probabilities -> 11: digits 0-9 and "no digit" (X mark + blank merged)."""
    p = np.asarray(probs, np.float64)
    return np.concatenate([p[:10], [p[CLASS_NODIGIT] + p[CLASS_BLANK]]])


def _sym(s: int) -> str:
    return "-" if s == NONE else str(s)


def _valid(seq: tuple[int, ...]) -> bool:
    started = False
    for s in seq:
        if s != NONE:
            started = True
        elif started:
            return False
    return True


def _value(seq: tuple[int, ...]) -> int | None:
    digits = [s for s in seq if s != NONE]
    return int("".join(map(str, digits))) if digits else None


def is_unsure(r: FieldReading) -> bool:
    return r.unsure or r.malformed


def unsure_boxes(r: FieldReading, settings: ArithSettings) -> list[int]:
    if not is_unsure(r) or not r.digits:
        return []
    tops = [float(symbol_probs(d.probs).max()) for d in r.digits]
    low = [i for i, t in enumerate(tops) if t < settings.box_threshold]
    return low or [int(np.argmin(tops))]


def field_candidates(r: FieldReading, settings: ArithSettings, optional: bool = False,
                     also: int | None = None) -> list[Candidate]:
    """The numbers the field may hold when only its unsure boxes change, most probable first
    (one entry per value; "no digit" everywhere = None, a candidate only for fields that may be empty).

    ``also``: a value an independent reading gives (the blackened bubbles): its symbols are options
    of the unsure boxes whatever the reader's probability for them, and it is kept among the
    candidates if reachable. The bubbles are the form's own answer to a doubtful handwritten number;
    a reader sure of the wrong digit (p of the right one below ``box_floor``) otherwise leaves the
    arithmetic nothing to find."""
    if not r.digits:
        return [Candidate(r.value, 1.0, (), ())]
    sp = [symbol_probs(d.probs) for d in r.digits]
    read = tuple(int(np.argmax(p)) for p in sp)
    loose = set(unsure_boxes(r, settings))
    wanted = _symbols_of(also, len(sp)) if also is not None else [set() for _ in sp]
    options = []
    for i, p in enumerate(sp):
        if i in loose:
            opts = [s for s in range(11) if p[s] >= settings.box_floor or s == read[i] or s in wanted[i]]
        else:
            opts = [read[i]]
        options.append(opts)
    best: dict[int, Candidate] = {}
    for seq in itertools.product(*options):
        if not _valid(seq):
            continue
        v = _value(seq)
        if v is None and not optional:
            continue
        prob = float(np.prod([sp[i][s] for i, s in enumerate(seq)]))
        key = 0 if v is None else v  # an empty optional field and a written 0 are the same number
        if key not in best or prob > best[key].prob:
            best[key] = Candidate(v, prob, seq, tuple(i for i, s in enumerate(seq) if s != read[i]))
    cands = sorted(best.values(), key=lambda c: -c.prob)
    kept = cands[: settings.max_candidates]
    if also is not None and also in best and best[also] not in kept:
        kept.append(best[also])
    return kept


def _symbols_of(value: int, n: int) -> list[set[int]]:
    """Per box (most significant first), the symbols that write ``value`` in ``n`` boxes: its digits
    right-aligned, and in the boxes before them a 0 or "no digit" (officers write both)."""
    digits = str(value)
    if len(digits) > n:
        return [set() for _ in range(n)]
    lead = n - len(digits)
    return [{0, NONE} for _ in range(lead)] + [{int(d)} for d in digits]


class _Budget(Exception):
    pass


def _as_int(c: Candidate) -> int:
    return 0 if c.value is None else c.value


def _solve_component(comp: list[str], rules: list[Rule], known: dict[str, int],
                     domains: dict[str, list[Candidate]], settings: ArithSettings
                     ) -> tuple[list[dict[str, Candidate]], int, bool]:
    """All satisfying assignments of ``comp`` (up to ``max_solutions``), nodes used, budget hit."""
    by_value = {f: {_as_int(c): c for c in domains[f]} for f in comp}
    sums = [r for r in rules if r.kind == "sum"]
    solutions: list[dict[str, Candidate]] = []
    nodes = 0

    def value_of(f: str, assign: dict[str, Candidate]) -> int | None:
        if f in known:
            return known[f]
        c = assign.get(f)
        return None if c is None else _as_int(c)

    def dfs(assign: dict[str, Candidate]) -> None:
        nonlocal nodes
        nodes += 1
        if nodes > settings.max_nodes:
            raise _Budget
        local = dict(assign)
        progress = True
        while progress:  # solve every sum rule with exactly one unknown
            progress = False
            for r in sums:
                unknown = [f for f in r.fields if value_of(f, local) is None]
                if len(unknown) != 1:
                    continue
                f = unknown[0]
                total, parts = r.fields[0], r.fields[1:]
                if f == total:
                    implied = sum(value_of(p, local) or 0 for p in parts)
                else:
                    others = sum(value_of(p, local) or 0 for p in parts if p != f)
                    implied = (value_of(total, local) or 0) - others
                cand = by_value[f].get(implied)
                if cand is None:
                    return  # the implied value cannot be read from the unsure boxes
                local[f] = cand
                progress = True
        vals = {f: value_of(f, local) for f in (*known, *local)}
        for r in rules:
            if all(vals.get(f) is not None for f in r.fields) and r.check(vals) is not None:  # type: ignore[arg-type]
                return
        todo = [f for f in comp if f not in local]
        if not todo:
            solutions.append(local)
            if len(solutions) >= settings.max_solutions:
                raise _Budget
            return
        f = min(todo, key=lambda x: len(domains[x]))
        for c in domains[f]:
            dfs({**local, f: c})

    budget_hit = False
    try:
        dfs({})
    except _Budget:
        budget_hit = nodes > settings.max_nodes
    return solutions, nodes, budget_hit


def _components(unsure: list[str], rules: list[Rule]) -> list[tuple[list[str], list[Rule]]]:
    parent = {f: f for f in unsure}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for r in rules:
        fs = [f for f in r.fields if f in parent]
        for a, b in itertools.pairwise(fs):
            parent[find(a)] = find(b)
    groups: dict[str, list[str]] = {}
    for f in unsure:
        groups.setdefault(find(f), []).append(f)
    out = []
    for fs in groups.values():
        s = set(fs)
        out.append((fs, [r for r in rules if s.intersection(r.fields)]))
    return out


def _changed_min_p(r: FieldReading, c: Candidate) -> float | None:
    """The lowest probability of the new symbol among the changed boxes (None: nothing changed)."""
    ps = [float(symbol_probs(r.digits[i].probs)[c.symbols[i]]) for i in c.changed]
    return round(min(ps), 6) if ps else None


def _provenance(r: FieldReading, c: Candidate) -> str:
    parts = []
    for i in c.changed:
        sp = symbol_probs(r.digits[i].probs)
        old = int(np.argmax(sp))
        parts.append(f"box {i + 1}: {_sym(old)} (p={sp[old]:.2f}) -> {_sym(c.symbols[i])} "
                     f"(p={sp[c.symbols[i]]:.2f})")
    return "; ".join(parts)


def solve(readings: list[FieldReading], values: Values, field_ids: list[str], rules: list[Rule],
          settings: ArithSettings | None = None) -> ArithResult:
    """Settle the unsure fields of one form with its hard rules (see the module docstring).

    ``values`` are the form's values as read (fields of missing pages absent or None); ``rules``
    the rules that apply to the form (``transform.rules.rules_for``).
    """
    settings = settings or ArithSettings()
    by_id = {r.field_id: r for r in readings}
    unsure = [f for f in field_ids if f in by_id and is_unsure(by_id[f])]
    result = ArithResult(values=dict(values))
    if not unsure:
        return result
    confident_values = {f: v for f, v in values.items() if f not in unsure}
    known = checkable(confident_values, [f for f in field_ids if f not in unsure])
    hard = [r for r in rules if r.severity == HARD and all(f in known or f in unsure for f in r.fields)]
    domains: dict[str, list[Candidate]] = {}
    for f in unsure:
        r = by_id[f]
        bubbles = confident_bubbles(r)
        cands = field_candidates(r, settings, optional=may_be_empty(f), also=bubbles)
        if bubbles is not None:  # a second reading ranks candidates
            cands.sort(key=lambda c, b=bubbles: -c.prob * (settings.bubble_weight if c.value == b else 1.0))
        domains[f] = cands
    result.candidates = domains
    for comp, comp_rules in _components(unsure, hard):
        pinned = all(any(r.kind == "sum" and f in r.fields for r in comp_rules) for f in comp)
        if not comp_rules or not all(domains[f] for f in comp):
            result.unresolved.update(comp)
            continue
        solutions, nodes, budget_hit = _solve_component(comp, comp_rules, known, domains, settings)
        result.nodes += nodes
        if not solutions:
            result.unresolved.update(comp)
            continue
        distinct = {tuple(_as_int(s[f]) for f in comp) for s in solutions}
        best = max(solutions, key=lambda s: float(np.prod([s[f].prob for f in comp])))
        names = ", ".join(sorted({r.id for r in comp_rules}))
        unique = len(distinct) == 1 and not budget_hit
        for f in comp:
            c, r = best[f], by_id[f]
            if unique and pinned:
                if c.value != r.value:
                    why = f"unique solution of {names}: {_provenance(r, c)}"
                    if c.value is not None and c.value == confident_bubbles(r):
                        why += "; the blackened bubbles read the same"
                else:
                    why = f"confirmed: the reading is the unique solution of {names}"
                result.corrections.append(Correction(field_id=f, old=r.value, new=c.value, by="auto", at="",
                                                     reason=why, boxes_changed=list(c.changed),
                                                     probability=round(c.prob, 6),
                                                     box_probability=_changed_min_p(r, c)))
                result.values[f] = c.value
                result.resolved.add(f)
            else:
                result.unresolved.add(f)
                if c.value != r.value:
                    result.suggestions.append(Suggestion(
                        field_id=f, old=r.value, new=c.value, probability=round(c.prob, 6),
                        boxes_changed=list(c.changed),
                        rules=sorted({x.id for x in comp_rules if f in x.fields}),
                        solutions=len(distinct), detail=_provenance(r, c)))
    return result
