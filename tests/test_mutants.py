"""The mutation check's list stays in step with the code (the check itself runs by hand:
``python -m tests.mutants``). A failure here means code moved: update the mutation to follow it."""

import re

import pytest

from tests.conftest import REPO
from tests.mutants.run import MUTATIONS, load_mutations, staleness

MUTATION_LIST = load_mutations()


def test_the_mutations_cover_every_invariant_of_issue_12():
    invariants = {m.invariant for m in MUTATION_LIST}
    assert {
        "quotes verbatim",
        "honest refusal",
        "atomic index",
        "free event loop",
        "no file outside the corpus",
        "token secrecy",
        "no pings",
    } <= invariants


@pytest.mark.parametrize("mutation", MUTATION_LIST, ids=lambda m: m.name)
def test_each_mutation_applies_to_the_code_as_it_is(mutation):
    assert staleness(mutation, REPO) is None, f"{MUTATIONS.name}: {mutation.name}: {staleness(mutation, REPO)}"


@pytest.mark.parametrize("mutation", MUTATION_LIST, ids=lambda m: m.name)
def test_each_mutation_names_tests_that_exist(mutation):
    for test_id in mutation.tests:
        path, _, name = test_id.partition("::")
        assert (REPO / path).is_file(), f"{mutation.name}: no test file {path}"
        if name:
            function = name.split("[")[0]
            source = (REPO / path).read_text(encoding="utf-8")
            assert re.search(rf"^(async )?def {re.escape(function)}\(", source, re.M), f"{mutation.name}: no {test_id}"
