"""Only here to ship ``asyncgraph_as_langgraph.pth`` (everything else is in pyproject.toml).

The ``.pth`` file must sit at the top of site-packages, outside the package, which
pyproject metadata alone cannot express with setuptools. At interpreter start it reads
one environment variable and, only when ``ASYNCGRAPH_AS_LANGGRAPH=1``, imports
asyncgraph and calls ``install_as_langgraph()``.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "asyncgraph_as_langgraph.pth"


class BuildPyWithPth(build_py):
    def run(self) -> None:
        super().run()
        self.copy_file(PTH, os.path.join(self.build_lib, PTH), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, PTH)]


setup(cmdclass={"build_py": BuildPyWithPth})
