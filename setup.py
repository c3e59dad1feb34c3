"""streamcnn: int8 CNN inference on the PYNQ-Z2 with layers and weights streamed at run time."""
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
HLS_FILES = ("*.h", "*.cpp", "host_shim/*.h", "host_shim/*.cpp")


class BuildPyWithHlsSources(build_py):
    """Carry hls_src/ inside the package: the simulator compiles it on first use."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "streamcnn" / "_hls_src"
        for pattern in HLS_FILES:
            for src in (HERE / "hls_src").glob(pattern):
                dst = target / src.relative_to(HERE / "hls_src")
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
    install_requires=["numpy>=1.21", "cffi>=1.15", "tqdm>=4.60"],
    extras_require={
        # The board's PYNQ image ships pynq; this pins nothing it does not need.
        "board": ["pynq>=3.0"],
        "torch": ["torch==2.13.0"],
        "onnx": ["onnx", "onnxruntime"],
        "test": ["pytest>=7"],
    },
    entry_points={"console_scripts": ["streamcnn = streamcnn.cli:main"]},
    cmdclass={"build_py": BuildPyWithHlsSources},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: C++",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Intended Audience :: Science/Research",
    ],
)
