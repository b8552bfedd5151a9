"""Training the prior on the corpus, checkpoints and resuming (tiny runs on a fake corpus)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import exvc.prior.train as train_mod
from exvc.prior.photos import CorpusSplitError, split_files

ROOT = Path(__file__).resolve().parent.parent

HELD_COLOUR = (250, 5, 5)  # every held-back fake photograph is this flat red


def _png(rgb: np.ndarray) -> bytes:
    import av

    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = rgb.shape[1], rgb.shape[0], "rgb24"
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return b"".join(bytes(p) for p in codec.encode(frame) + codec.encode(None))


def fake_corpus(root, train: int = 3, held: int = 2, size: tuple[int, int] = (40, 48)):
    """A built corpus as ``scripts/prior_corpus.py`` writes it: PNGs in package folders and
    ``corpus.json``. Training photographs are noise, held-back ones flat red."""
    rng = np.random.default_rng(7)
    images = []
    for i in range(train + held):
        split = "train" if i < train else "heldout"
        h, w = size[0] + 8 * i, size[1] + 4 * i
        if split == "train":
            rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        else:
            rgb = np.empty((h, w, 3), np.uint8)
            rgb[:] = HELD_COLOUR
            rgb[::5, ::7] = (i * 40) % 256  # distinct pictures
        data = _png(rgb)
        name = f"pkg{i % 2}/photo{i}.png"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
        images.append({"file": name, "split": split, "package": f"pkg{i % 2}", "version": "1",
                       "path": f"usr/share/photo{i}.jpg", "licence": "CC0-1.0",
                       "credit": "someone", "width": w, "height": h,
                       "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})
    (root / "corpus.json").write_text(json.dumps({"manifest_sha256": "ab" * 32,
                                                  "short_side": 768, "decoder": "PyAV",
                                                  "images": images}))
    return root


def tiny_unet():
    from diffusers import UNet2DModel

    return UNet2DModel(sample_size=16, in_channels=24, out_channels=12,
                       block_out_channels=(8, 16), layers_per_block=1,
                       down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2,
                       norm_num_groups=4, add_attention=False)


@pytest.fixture
def tiny(monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setattr(train_mod, "default_unet", tiny_unet)
    monkeypatch.setattr(train_mod, "LOG_EVERY", 2)  # a loss entry every other step


def _args(tmp_path, corpus, run: str, steps: int = 6) -> list[str]:
    return ["--out", str(tmp_path / run / "prior"), "--steps", str(steps), "--batch", "2",
            "--patch", "32", "--restore", "0.5", "--corpus", str(corpus), "--threads", "1",
            "--checkpoint", str(tmp_path / run / "ckpt"), "--checkpoint-every", "2"]


def _weights(tmp_path, run: str) -> bytes:
    return (tmp_path / run / "prior" / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()


def _fake_pool(photos, clips, gen, on_clip=None):
    """Coded clips without a codec (libx265 would not give the same bytes twice anyway)."""
    from exvc.prior.codec_degrade import CLIP_SIZE, FRAMES, CodedClip

    pool = []
    for _ in range(clips):
        clean = torch.rand(FRAMES, 3, CLIP_SIZE, CLIP_SIZE, generator=gen)
        pool.append(CodedClip(clean, (clean + 0.05 * torch.randn(clean.shape, generator=gen)),
                              "fake"))
    return pool


@pytest.mark.parametrize("codec_share", [0.0, 0.5])
def test_a_resumed_run_ends_bit_identical_to_an_uninterrupted_one(tmp_path, tiny, monkeypatch,
                                                                  codec_share):
    import exvc.prior.codec_degrade as codec_degrade

    corpus = fake_corpus(tmp_path / "corpus")
    made = []
    monkeypatch.setattr(codec_degrade, "make_pool",
                        lambda *a, **k: made.append(1) or _fake_pool(*a, **k))
    extra = ["--codec-share", str(codec_share), "--pool-clips", "3"]
    assert train_mod.main(_args(tmp_path, corpus, "whole") + extra) == 0

    calls = {"n": 0}
    real = train_mod.degrade

    def interrupted(*args, **kwargs):  # one call a step: dies in step 5, after the step-4 save
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "degrade", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_mod.main(_args(tmp_path, corpus, "split") + extra)
    saved = torch.load(tmp_path / "split" / "ckpt" / "checkpoint.pt", weights_only=True)
    assert saved["step"] == 4 and [s for s, _ in saved["log"]] == [2, 4]
    assert not list((tmp_path / "split" / "ckpt").glob(".*tmp"))  # the write was atomic
    monkeypatch.setattr(train_mod, "degrade", real)
    assert len(made) == (2 if codec_share else 0)
    assert train_mod.main(_args(tmp_path, corpus, "split") + extra + ["--resume"]) == 0
    assert len(made) == (2 if codec_share else 0)  # the saved clips, not coded again

    assert _weights(tmp_path, "split") == _weights(tmp_path, "whole")
    whole = json.loads((tmp_path / "whole" / "prior" / "training.json").read_text())
    split = json.loads((tmp_path / "split" / "prior" / "training.json").read_text())
    assert split["loss_every_25_steps"] == whole["loss_every_25_steps"]
    assert [s for s, _ in split["loss_every_25_steps"]] == [2, 4, 6]
    assert split["digest_sha256"] == whole["digest_sha256"]
    sessions = split["checkpoint"]["sessions"]
    assert [(s["from_step"], s["to_step"]) for s in sessions] == [(0, 4), (4, 6)]
    assert split["seconds"] >= 0 and split["corpus"]["used"] == 3
    assert "--corpus" in split["command"] and "--threads 1" in split["command"]
    assert (split["pool"] or {}).get("sha256") == (whole["pool"] or {}).get("sha256")


def test_resuming_with_other_arguments_is_refused_in_one_line(tmp_path, tiny, capsys):
    corpus = fake_corpus(tmp_path / "corpus")
    assert train_mod.main(_args(tmp_path, corpus, "run", steps=2)) == 0
    capsys.readouterr()

    other = _args(tmp_path, corpus, "run", steps=4) + ["--resume"]
    assert train_mod.main(other) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--steps 2 there, 4 here" in err[0], err

    assert train_mod.main(_args(tmp_path, corpus, "run", steps=2)) == 2  # no --resume
    assert "add --resume" in capsys.readouterr().err
    assert train_mod.main(_args(tmp_path, corpus, "fresh", steps=2) + ["--resume"]) == 2
    assert "no checkpoint in" in capsys.readouterr().err


def test_training_reads_the_train_split_only(tmp_path):
    corpus = fake_corpus(tmp_path / "corpus", train=3, held=2)
    levels, sources, summary = train_mod.load_photos(corpus, 32)
    held = {p.name for p in split_files(corpus, "heldout")}
    assert len(levels) == 3 and not {s["file"].split("/")[-1] for s in sources} & held
    assert summary["counts"] == {"train": 3, "heldout": 2} and summary["used"] == 3
    red = torch.tensor(HELD_COLOUR, dtype=torch.uint8).view(1, 3, 1, 1)
    for pyramid in levels:
        assert pyramid[0].dtype == torch.uint8  # bytes in memory, float per crop
        assert (pyramid[0] == red).all(1).float().mean() < 0.01  # no held-back picture
    crops = train_mod._batch(levels, 4, 32, torch.Generator().manual_seed(0))
    assert crops.dtype == torch.float32 and 0 <= crops.min() and crops.max() <= 1


def test_a_corpus_whose_splits_share_a_picture_is_refused(tmp_path):
    corpus = fake_corpus(tmp_path / "corpus", train=2, held=1)
    record = json.loads((corpus / "corpus.json").read_text())
    record["images"][2]["sha256"] = record["images"][0]["sha256"]
    (corpus / "corpus.json").write_text(json.dumps(record))
    with pytest.raises(CorpusSplitError, match="shares 1 photograph"):
        train_mod.load_photos(corpus, 32)


def test_photos_decode_the_same_without_pyav(tmp_path, monkeypatch):
    # the GPU machine has Pillow and no PyAV (scripts/prior_gpu.py); PNGs are lossless
    from exvc.prior.photos import load_rgb8

    corpus = fake_corpus(tmp_path / "corpus", train=2, held=1)
    path = split_files(corpus, "train")[0]
    with_av = load_rgb8(path)
    monkeypatch.setitem(sys.modules, "av", None)
    assert torch.equal(load_rgb8(path), with_av)


def test_a_cpu_run_keeps_its_settings_and_records_the_device(tmp_path, tiny):
    # a CPU run's settings (and so its checkpoints) are what they were before --device
    corpus = fake_corpus(tmp_path / "corpus")
    settings = train_mod._settings(tmp_path, 2, 2, 32, 1e-3, 0, None, None, 0.0, "x", 2.0,
                                   0.0, 0, corpus, 0)
    assert "device" not in settings
    assert train_mod.main(_args(tmp_path, corpus, "run", steps=2) + ["--device", "cpu"]) == 0
    record = json.loads((tmp_path / "run" / "prior" / "training.json").read_text())
    assert record["device"] == "cpu" and "--device" not in record["command"]


def test_the_gpu_recipe_packs_the_train_split_and_trains_from_it(tmp_path, tiny, monkeypatch):
    spec = importlib.util.spec_from_file_location("prior_gpu", ROOT / "scripts" / "prior_gpu.py")
    prior_gpu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prior_gpu)
    monkeypatch.setattr(prior_gpu, "WHEELS", ())  # no download in a test
    corpus = fake_corpus(tmp_path / "corpus", train=3, held=2, size=(60, 80))
    prior_gpu.pack(corpus, tmp_path / "pack", short_side=48, quality=90)
    packed = json.loads((tmp_path / "pack" / "corpus" / "corpus.json").read_text())
    assert [e["split"] for e in packed["images"]] == ["train"] * 3  # nothing held back travels
    assert all((tmp_path / "pack" / "corpus" / e["file"]).is_file() for e in packed["images"])
    monkeypatch.setattr(prior_gpu, "PACK", tmp_path / "pack")
    monkeypatch.setattr(prior_gpu, "RECIPE", ["--patch", "32", "--seed", "0"])
    monkeypatch.setitem(sys.modules, "av", None)  # as on the GPU machine
    prior_gpu.train(tmp_path / "out" / "gpu", minutes=0.01, device="cpu", threads=1, batch=2,
                    pilot_steps=2)
    record = json.loads((tmp_path / "out" / "gpu" / "training.json").read_text())
    assert record["corpus"]["counts"] == {"train": 3, "heldout": 0}
    assert len(record["sources"]) == 3 and (tmp_path / "out" / "gpu" / "loss.png").is_file()
