"""resnet_edu.claims: a false claim fails CI and never stops a reader's "Run all"."""

import json

import numpy as np
import pytest
import torch

from resnet_edu.claims import ClaimError, claim, claims, seed, strict


@pytest.fixture
def reader(monkeypatch):
    """A reader's own session: neither CI nor strict mode."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("RESNET_EDU_STRICT", raising=False)
    monkeypatch.delenv("RESNET_EDU_CLAIM_LOG", raising=False)


def test_a_claim_that_holds_prints_the_same_line_everywhere(reader, monkeypatch, capsys):
    assert claim("two is more than one", 2 > 1, measured={"a": 2.123456, "b": 1}) is None
    monkeypatch.setenv("RESNET_EDU_STRICT", "1")
    claim("two is more than one", 2 > 1, measured={"a": 2.98765, "b": 1})
    # the measured values differ between the two runs; the output must not
    assert capsys.readouterr().out == "✓ two is more than one\n" * 2


def test_a_false_claim_prints_values_and_meaning_in_a_readers_session(reader, capsys):
    claim("plain-56 is worse", 3.0 > 4.0, measured={"err": 3.0}, meaning="look again")
    out = capsys.readouterr().out
    assert out.startswith("✗ plain-56 is worse") and "err = 3" in out and "look again" in out
    assert out.count("\n") == 1


@pytest.mark.parametrize("env", [{"CI": "true"}, {"RESNET_EDU_STRICT": "1"}])
def test_a_false_claim_raises_under_ci_or_strict(reader, monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert strict()
    with pytest.raises(ClaimError, match=r"✗ x holds \(measured x = 0\.5\)"):
        claim("x holds", False, measured={"x": 0.5})
    with pytest.raises(AssertionError):  # ClaimError is an AssertionError: pytest reports it so
        claim("x holds", False)


def test_strict_zero_overrides_ci(reader, monkeypatch, capsys):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("RESNET_EDU_STRICT", "0")
    assert not strict()
    claim("x", False)
    assert capsys.readouterr().out.startswith("✗ x")


def test_tensor_and_numpy_checks_are_accepted(reader, capsys):
    claim("tensor", torch.tensor(1.0) > 0)
    claim("numpy", np.float64(1.0) > 0)
    claim("numpy false", np.bool_(False))
    assert capsys.readouterr().out.splitlines() == ["✓ tensor", "✓ numpy", "✗ numpy false."]


def test_every_claim_is_logged_for_the_stress_matrix(reader, monkeypatch, tmp_path):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("RESNET_EDU_CLAIM_LOG", str(log))
    claim("first", True, measured={"v": 1e-9})
    claim("second", False, measured={"v": float("nan")})
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(x["claim"], x["passed"]) for x in lines] == [("first", True), ("second", False)]
    assert lines[0]["measured"] == "v = 1.000e-09" and lines[1]["measured"] == "v = nan"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"statement": "", "holds": True}, TypeError, "statement"),
        ({"statement": 3, "holds": True}, TypeError, "statement"),
        ({"statement": "s", "holds": "yes"}, TypeError, "holds"),
        ({"statement": "s", "holds": 0.5}, TypeError, "holds"),
        ({"statement": "s", "holds": None}, TypeError, "holds"),
        ({"statement": "s", "holds": True, "measured": [1, 2]}, TypeError, "measured"),
        ({"statement": "s", "holds": True, "meaning": 3}, TypeError, "meaning"),
    ],
)
def test_bad_arguments_name_themselves(reader, kwargs, error, match):
    statement, holds = kwargs.pop("statement"), kwargs.pop("holds")
    with pytest.raises(error, match=match):
        claim(statement, holds, **kwargs)


def test_seed_shifts_every_seed_by_the_environment(monkeypatch):
    monkeypatch.delenv("RESNET_EDU_SEED", raising=False)
    assert [seed(), seed(1), seed(5)] == [0, 1, 5]
    monkeypatch.setenv("RESNET_EDU_SEED", "10")
    assert [seed(), seed(1), seed(5)] == [10, 11, 15]


@pytest.mark.parametrize("value", ["one", "-1", "1.5"])
def test_a_bad_seed_variable_is_named(monkeypatch, value):
    monkeypatch.setenv("RESNET_EDU_SEED", value)
    with pytest.raises(ValueError, match="RESNET_EDU_SEED"):
        seed()


@pytest.mark.parametrize("offset", [-1, 1.0, True, "1"])
def test_a_bad_offset_is_named(offset):
    with pytest.raises(TypeError, match="offset"):
        seed(offset)


def test_gathered_claims_show_one_summary_and_each_claim_under_it(reader, capsys):
    with claims():
        claim("two is more than one", 2 > 1, measured={"a": 2.0})
        claim("three is more than two", 3 > 2)
    assert capsys.readouterr().out.splitlines() == [
        "✓ 2 of 2 claims hold",
        "  ✓ two is more than one",
        "  ✓ three is more than two",
    ]


def test_a_gathered_false_claim_is_shown_in_a_session_and_raised_in_strict_mode_at_the_end(
    reader, monkeypatch, capsys
):
    with claims():
        claim("x holds", False, measured={"x": 0.5}, meaning="look again")
        claim("y holds", True)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "✗ 1 of 2 claims hold"
    assert out[1].startswith("  ✗ x holds (measured x = 0.5): look again")
    monkeypatch.setenv("RESNET_EDU_STRICT", "1")
    checked = []
    with pytest.raises(ClaimError, match="x holds"):
        with claims():
            claim("x holds", False)
            checked.append("y")  # the block goes on: every claim in it is checked first
            claim("y holds", True)
    assert checked == ["y"]


def test_gathered_claims_in_a_kernel_have_a_folded_html_form(reader, monkeypatch):
    shown = []
    monkeypatch.setattr("resnet_edu.claims._show", lambda plain, rich: shown.append(rich))
    with claims():
        claim("a < b & c", True)
    (rich,) = shown
    assert rich.startswith('<details class="claims"><summary>✓ 1 of 1 claims hold</summary>')
    assert "a &lt; b &amp; c" in rich


def test_an_empty_block_shows_nothing(reader, capsys):
    with claims():
        pass
    assert capsys.readouterr().out == ""
