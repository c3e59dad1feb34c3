"""streamcnn's notebooks, for pynq's ``pynq.notebooks`` entry point: ``pynq get-notebooks
streamcnn`` copies them (into ``./pynq-notebooks/streamcnn`` by default; on the board, run it
in ``/home/xilinx/jupyter_notebooks``).  pynq copies the folder this package's ``__path__``
names: the repository's ``notebooks/`` in a source checkout, the installed copies otherwise."""
from .._resources import notebooks_dir

__path__ = [str(notebooks_dir())]
