"""streamcnn: int8 CNN inference on the PYNQ-Z2 with layers and weights streamed at run time."""
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# Repository files a regular (non-editable) install carries inside the package.
BUNDLED = {
    "hls_src": ("*.h", "*.cpp", "config/*.h", "host_shim/*.h", "host_shim/*.cpp"),  # the simulator compiles these
    "datasets": ("mnist/*.gz", "mnist/README.md", "mnist/samples/*", "fashion-mnist/*.gz", "fashion-mnist/README.md"),
    "notebooks": ("*.ipynb",),  # pynq get-notebooks streamcnn copies them onto the board
    "bench": ("results/*.json",),  # the committed measurements notebooks 04 and 05 plot
}


class BuildPyWithBundledFiles(build_py):
    """Copy hls_src/, datasets/, notebooks/ and bench/results/ into streamcnn/_hls_src, _datasets,
    _notebooks and _bench."""

    def run(self):
        super().run()
        for folder, patterns in BUNDLED.items():
            target = Path(self.build_lib) / "streamcnn" / f"_{folder}"
            for pattern in patterns:
                for src in (HERE / folder).glob(pattern):
                    dst = target / src.relative_to(HERE / folder)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)


setup(
    name="streamcnn",
    version="0.1.0",
    description="int8 CNN inference on PYNQ-Z2 with layers and weights streamed at run time, "
                "bit-exact with a NumPy golden model; simulator built from the same HLS C++.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    package_dir={"": "driver"},
    packages=find_packages("driver"),
    package_data={"streamcnn": ["model_files/*.scnn"]},
    install_requires=["numpy>=1.21", "cffi>=1.15", "tqdm>=4.60", "pillow>=9"],
    extras_require={
        # The board's PYNQ image ships pynq; this pins nothing it does not need.
        "board": ["pynq>=3.0"],
        "torch": ["torch==2.13.0"],
        "train": ["torch==2.13.0", "mlxtend>=0.23"],
        "onnx": ["onnx>=1.14", "onnxruntime>=1.16"],
        "bench": ["torch==2.13.0", "hls4ml>=1.0"],
        "notebooks": ["matplotlib>=3.5", "nbclient>=0.7", "nbformat>=5", "ipykernel>=6"],
        "cluster": ["dask[distributed]>=2024.1"],
        "test": ["pytest>=7"],
    },
    entry_points={
        "console_scripts": ["streamcnn = streamcnn.cli:main"],
        # pynq imports these drivers when it opens an overlay: Overlay(...).streamcnn_top_0 is a device
        "pynq.lib": ["streamcnn = streamcnn.devices.pynq_ip"],
        # `pynq get-notebooks streamcnn` copies the notebooks
        "pynq.notebooks": ["streamcnn = streamcnn.notebooks"],
    },
    cmdclass={"build_py": BuildPyWithBundledFiles},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: C++",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Intended Audience :: Science/Research",
    ],
)
