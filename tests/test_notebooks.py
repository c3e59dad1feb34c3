"""Every notebook runs top to bottom on the simulator, and is committed without outputs."""
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_five_notebooks():
    assert [p.name for p in NOTEBOOKS] == ["01_lenet5_mnist.ipynb", "02_runtime_topology_swap.ipynb",
                                          "03_bring_your_own_model.ipynb", "04_compressed_weights.ipynb",
                                          "05_several_boards.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    book = json.loads(path.read_text())
    for cell in book["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name} has stale outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_on_the_simulator(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[notebooks]'")
    nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[notebooks]'")
    pytest.importorskip("matplotlib", reason="pip install -e '.[notebooks]'")
    if "bring_your_own" in path.name:
        pytest.importorskip("torch", reason="this notebook trains a PyTorch model")
    if "several_boards" in path.name:
        pytest.importorskip("distributed", reason="pip install -e '.[cluster]'")
        monkeypatch.delenv("STREAMCNN_SCHEDULER", raising=False)
    monkeypatch.setenv("STREAMCNN_DEVICE", "sim")  # "auto" must not find a board in CI
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(str(path), as_version=4)
    client = nbclient.NotebookClient(book, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on any error
    text = "\n".join(o.get("text", "") for c in book.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "running on:" in text and ("sim" in text or "simulator" in text)
    if "compressed" in path.name:
        assert text.count("device == golden: True") == 2
    if "several_boards" in path.name:
        assert "cluster == one device: True" in text and "pipeline == one device: True" in text
    if "topology_swap" in path.name:
        assert text.count(" True ") >= 3 and "False" not in text  # three networks, all bit-exact
