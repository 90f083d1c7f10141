"""weights.py: state_dict and .safetensors files into compiled networks, with a load report.

References are torchvision models built here (no downloads); inputs are small (3x64x64).
"""

from __future__ import annotations

import pickle

import pytest
import torch
from helpers import ROOT, net
from safetensors.torch import save_file

import archdsl
from archdsl.pytorch.weights import load_weights, read_state_dict, save_weights

RESNET34 = ROOT / "architectures" / "resnet34.arch"
LENET5 = ROOT / "architectures" / "lenet5.arch"


@pytest.fixture(scope="module")
def torchvision_resnet34():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    return torchvision.models.resnet34(weights=None).eval()


@pytest.fixture(scope="module")
def resnet34_files(torchvision_resnet34, tmp_path_factory):
    folder = tmp_path_factory.mktemp("r34")
    state = torchvision_resnet34.state_dict()
    torch.save(state, folder / "r34.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, folder / "r34.safetensors")
    return folder


@pytest.mark.parametrize("name", ["r34.pth", "r34.safetensors"])
def test_torchvision_weights_load_from_either_format_and_outputs_agree(name, resnet34_files, torchvision_resnet34):
    model = archdsl.load(RESNET34, weights=resnet34_files / name, input="3x64x64").eval()
    report = model.load_report
    assert len(report.loaded) == len(torchvision_resnet34.state_dict())
    assert not report.problems and not report.reinitialised
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), torchvision_resnet34(x), atol=1e-5, rtol=0)


def test_new_head_keeps_every_other_pretrained_tensor(resnet34_files, torchvision_resnet34):
    torch.manual_seed(3)
    model = archdsl.load(RESNET34, weights=resnet34_files / "r34.pth", num_classes=5, input="3x64x64").eval()
    report = model.load_report
    assert [m.key for m in report.reinitialised] == ["fc.weight", "fc.bias"]
    assert report.reinitialised[0].expected == (5, 512) and report.reinitialised[0].found == (1000, 512)
    assert not report.problems
    reference = torchvision_resnet34.state_dict()
    for key, value in model.state_dict().items():
        if key.startswith("fc."):
            assert value.shape[0] == 5
        else:
            assert torch.equal(value, reference[key]), key
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 5)
    assert "fc.weight 5x512 <- 1000x512" in report.render()


def test_parameters_that_remove_layers_leave_their_tensors_ignored_not_unexpected(tmp_path):
    source = net("conv3-4; extra: bn if with_bn; flatten; fc-2", input="1x4x4", params="with_bn = true")
    save_weights(archdsl.load("t.arch", source=source), tmp_path / "w.safetensors")
    model = archdsl.load("t.arch", source=source, weights=tmp_path / "w.safetensors", with_bn=False)
    assert sorted(model.load_report.dropped) == ["extra.bias", "extra.num_batches_tracked", "extra.running_mean",
                                                 "extra.running_var", "extra.weight"]
    assert not model.load_report.problems


def test_a_mismatch_the_parameters_do_not_explain_is_an_error_naming_file_and_tensors(tmp_path):
    save_weights(archdsl.load(LENET5, input="1x28x28"), tmp_path / "small.safetensors")
    with pytest.raises(archdsl.ArchError) as info:
        archdsl.load(LENET5, weights=tmp_path / "small.safetensors")
    text = str(info.value)
    assert "small.safetensors does not fit LeNet5; nothing was loaded" in text
    assert "fc1.weight 120x400 <- 120x256" in text
    assert "strict=False" in text


def test_non_strict_loads_what_fits_and_reports_the_rest(tmp_path):
    save_weights(archdsl.load(LENET5, input="1x28x28"), tmp_path / "small.safetensors")
    reference = read_state_dict(tmp_path / "small.safetensors")
    model = archdsl.load(LENET5, weights=tmp_path / "small.safetensors", strict=False)
    report = model.load_report
    assert [m.key for m in report.mismatched] == ["fc1.weight"]
    assert "fc1.bias" in report.loaded and "conv1.weight" in report.loaded
    assert torch.equal(model.conv1.weight, reference["conv1.weight"])
    assert not torch.equal(model.fc1.weight[:, :256], reference["fc1.weight"])


def test_a_failed_load_leaves_the_users_model_untouched(tmp_path):
    model = archdsl.load(LENET5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    other = archdsl.load(LENET5, num_classes=7).state_dict()  # every tensor fits except the head
    with pytest.raises(archdsl.ArchError, match="fc3.weight 10x84 <- 7x84"):
        load_weights(model, other)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_checkpoint_dicts_with_a_state_dict_entry_are_understood(tmp_path):
    model = archdsl.load(LENET5)
    torch.save({"epoch": 3, "state_dict": model.state_dict()}, tmp_path / "ckpt.pt")
    assert len(archdsl.load(LENET5, weights=tmp_path / "ckpt.pt").load_report.loaded) == 10


class _Hostile:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_hostile_pickle_is_refused_without_running_anything(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pth", "wb") as handle:
        pickle.dump({"conv1.weight": _Hostile(marker)}, handle, protocol=2)
    with pytest.raises(archdsl.ArchError) as info:
        archdsl.load(LENET5, weights=tmp_path / "evil.pth")
    assert not marker.exists()
    assert "evil.pth" in str(info.value) and "never runs code" in str(info.value)


@pytest.mark.parametrize("kind", ["pth", "safetensors"])
def test_a_truncated_file_is_a_clear_error(kind, tmp_path):
    path = tmp_path / f"w.{kind}"
    model = archdsl.load(LENET5)
    if kind == "pth":
        torch.save(model.state_dict(), path)
    else:
        save_weights(model, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(archdsl.ArchError, match=rf"cannot read weights file .*w\.{kind}"):
        archdsl.load(LENET5, weights=path)


@pytest.mark.parametrize(("content", "message"), [
    ([1, 2, 3], "is not a state_dict: it holds list"),
    ({"conv1.weight": torch.zeros(6, 1, 5, 5), "epoch": 3}, "these entries are not named tensors: epoch"),
    ({}, "is not a state_dict: it holds an empty mapping"),
])
def test_files_that_are_not_state_dicts_are_named(content, message, tmp_path):
    torch.save(content, tmp_path / "odd.pth")
    with pytest.raises(archdsl.ArchError, match=message):
        archdsl.load(LENET5, weights=tmp_path / "odd.pth")


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(archdsl.ArchError, match="cannot read weights file .*nope.pth: no such file"):
        archdsl.load(LENET5, weights=tmp_path / "nope.pth")


def test_save_weights_is_atomic_and_round_trips(tmp_path, monkeypatch):
    model = archdsl.load(LENET5)
    path = tmp_path / "w.safetensors"
    save_weights(model, path)
    before = path.read_bytes()

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", disk_full)  # the last step of an atomic write fails
    with pytest.raises(archdsl.ArchError, match="cannot write .*w.safetensors: No space left"):
        save_weights(archdsl.load(LENET5, num_classes=3), path)
    monkeypatch.undo()
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]
    loaded = read_state_dict(path)
    assert all(torch.equal(v, loaded[k]) for k, v in model.state_dict().items())


def test_cli_compile_with_weights_writes_a_module_that_loads_them_with_torch_alone(tmp_path):
    import subprocess
    import sys

    trained = archdsl.load(LENET5)
    torch.save(trained.state_dict(), tmp_path / "lenet.pth")
    cmd = [sys.executable, "-m", "archdsl", "compile", str(LENET5), "--weights", str(tmp_path / "lenet.pth"),
           "-o", str(tmp_path / "model.py"), "--set", "num_classes=3", "--freeze", "up to conv2"]
    run = subprocess.run(cmd, check=False, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "loaded 8 of the model's 10 tensors" in run.stderr and "fc3.weight 3x84 <- 10x84" in run.stderr
    script = ("import sys, torch; from model import pretrained; m = pretrained(); "
              "assert 'archdsl' not in sys.modules and 'safetensors' not in sys.modules; "
              "torch.save(m.state_dict(), 'out.pth'); print(m.FROZEN)")
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=False, capture_output=True, text=True)
    assert run.stdout.strip() == "('conv1', 'conv2')", run.stderr
    out, reference = torch.load(tmp_path / "out.pth"), trained.state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in out.items() if not k.startswith("fc3"))
    assert out["fc3.weight"].shape == (3, 84)


@pytest.mark.parametrize("name", ["alexnet", "googlenet", "resnet18"])
def test_torchvision_state_dict_files_load_into_the_bundled_networks(name, tmp_path):
    torchvision = pytest.importorskip("torchvision")
    kwargs = {"aux_logits": True, "init_weights": True, "transform_input": False} if name == "googlenet" else {}
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    torch.save(reference.state_dict(), tmp_path / f"{name}.pth")
    model = archdsl.load(ROOT / "architectures" / f"{name}.arch", weights=tmp_path / f"{name}.pth").eval()
    assert len(model.load_report.loaded) == len(reference.state_dict()) and not model.load_report.problems
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-5, rtol=0)


def test_a_weights_file_declaring_far_more_bytes_than_the_model_is_refused_before_reading(tmp_path):
    # A small .pth whose zip entry declares gigabytes (deflated zeros) raised peak memory by the declared
    # size before the shape check could refuse it. Here: 200 MB of zeros deflate to ~200 KB.
    import zipfile

    path = tmp_path / "bomb.pth"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive, \
            archive.open("bomb/data/0", "w", force_zip64=True) as entry:
        for _ in range(200):
            entry.write(bytes(1 << 20))
    assert path.stat().st_size < 2_000_000
    with pytest.raises(archdsl.ArchError, match="declares 209,715,200 bytes of tensors"):
        archdsl.load(LENET5, weights=path)


@pytest.mark.parametrize("kind", ["meta", "sparse"])
def test_a_state_dict_with_a_tensor_that_holds_no_plain_data_loads_nothing(kind):
    model = archdsl.load(LENET5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = {k: torch.randn_like(v) for k, v in before.items()}
    state["fc3.bias"] = torch.empty(10, device="meta") if kind == "meta" else torch.zeros(10).to_sparse()
    with pytest.raises(archdsl.ArchError, match="not plain dense tensors with data"):
        load_weights(model, state)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # all or nothing


def test_load_refuses_a_network_that_would_not_fit_in_memory(monkeypatch):
    from archdsl.pytorch import runtime

    monkeypatch.setattr(runtime, "available_memory", lambda: 100_000)  # 100 kB free; LeNet-5's weights take 247 kB
    with pytest.raises(archdsl.ArchError, match="cannot load network LeNet5: it needs 246,824 bytes of weights"):
        archdsl.load(LENET5)
    with pytest.raises(archdsl.ArchError, match="too large: numbers have at most 18 digits"):
        archdsl.load(LENET5, num_classes=10**5000)
