"""Evaluating priors on the corpus's held-back photographs (two tiny fake ones)."""

from __future__ import annotations

import json
import math

import torch
from test_prior_train import fake_corpus

import exvc.prior.eval as eval_mod
from exvc.prior.photos import split_files


def test_eval_reads_held_back_photographs_only_and_gives_finite_numbers(tmp_path, monkeypatch,
                                                                        capsys):
    torch.set_num_threads(1)
    # held-back crops of 128 px: 32 px at quarter size, where libvvenc still codes
    corpus = fake_corpus(tmp_path / "corpus", train=3, held=2, size=(136, 140))
    read = []
    real = eval_mod.load_rgb8
    monkeypatch.setattr(eval_mod, "load_rgb8", lambda path: read.append(path) or real(path))
    out = tmp_path / "eval.json"
    status = eval_mod.main(["--prior", "exvc-default-2", "--against", "exvc-default-1",
                            "--corpus", str(corpus), "--json", str(out), "--threads", "1"])
    assert status == 0
    assert sorted(read) == sorted(split_files(corpus, "heldout")) and len(read) == 2
    result = json.loads(out.read_text())
    assert {r["photo"] for r in result["photos"]} == {p.relative_to(corpus).as_posix()
                                                      for p in read}
    kinds = [k.name for k in eval_mod.KINDS if k.name not in result["settings"]["skipped_kinds"]]
    assert len(result["photos"]) == 2 * len(kinds) and not result["settings"]["too_small"]
    assert set(result["summary"]) >= set(kinds) | {"overall"}
    for s in result["summary"].values():
        assert all(math.isfinite(v) for v in s.values()), s
    assert result["settings"]["sampler"] == {"grid_steps": 8, "run_steps": 2, "mix16": 16}
    table = capsys.readouterr().out
    assert "overall" in table and "A-B gain" in table


def test_preparation_and_degradation_are_deterministic():
    photo = (torch.arange(3 * 90 * 100) % 251).to(torch.uint8).view(3, 90, 100)
    a = eval_mod.prepare(photo, 64, torch.Generator().manual_seed(1))
    b = eval_mod.prepare(photo, 64, torch.Generator().manual_seed(1))
    assert a.shape == (eval_mod.FRAMES, 3, 64, 64) and torch.equal(a, b)
    kind = eval_mod.KINDS[1]
    c1 = eval_mod.condition(a, kind, torch.Generator().manual_seed(2))
    c2 = eval_mod.condition(a, kind, torch.Generator().manual_seed(2))
    assert torch.equal(c1, c2) and c1.shape == (1, 3, 64, 64)


def test_the_sampler_setting_is_the_encoders_strongest():
    from exvc.encode.sampler_choice import CANDIDATES, STEPS

    s = eval_mod.strongest_setting()
    assert s == CANDIDATES[0] and (s.grid_steps, s.run_steps) == STEPS[0] and s.mix == 16
