"""Optional dependencies: which pip extra brings each one, and the one line to print when one is missing.

``pip install zhseq`` installs what prediction needs (numpy, jieba, safetensors, click, …): ``segment``,
``sentiment``, ``predict-next``, ``generate`` and ``info`` run on the numpy engine without torch. The rest
comes with extras (setup.cfg):

    train    torch, datasets, scikit-learn        train, finetune, evaluate, the torch engine
    serve    fastapi, fastapi-offline, uvicorn    zhseq serve
    spark    pyspark, pyarrow, pandas             zhseq.spark's pandas UDFs
    parquet  pyarrow                              --input/--output x.parquet
    plot     matplotlib                           --plot
    t2s      opencc                               the t2s tokenizer setting

The modules are imported where they are used; a missing one raises ``ModuleNotFoundError``, which the CLI
(``zhseq.cli.ZhseqGroup``) and the lazy names of the Python API (``zhseq.lazy_attributes``) turn into
``missing_message``'s line. Imports nothing.
"""

from __future__ import annotations

# top-level module name → the extra that installs it
EXTRAS = {
    "torch": "train",
    "datasets": "train",
    "sklearn": "train",
    "scipy": "train",
    "fastapi": "serve",
    "uvicorn": "serve",
    "starlette": "serve",
    "fastapi_offline": "serve",
    "pyspark": "spark",
    "pandas": "spark",
    "pyarrow": "parquet",
    "matplotlib": "plot",
    "opencc": "t2s",
}

# torch's default wheel on Linux is the CUDA build (several GB); PyTorch documents its CPU index for the rest
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def torch_requirement() -> str:
    """The torch versions zhseq's train extra accepts, as setup.cfg declares them (``torch>=2.1,<2.14``), read
    from the installed package's metadata; ``torch`` when the metadata cannot be read."""
    from importlib import metadata

    try:
        requirements = metadata.requires("zhseq") or []
    except metadata.PackageNotFoundError:
        return "torch"
    for line in requirements:
        spec = line.split(";")[0].strip()
        if spec.startswith("torch") and not spec[5:6].isalnum() and "train" in line:
            return spec.replace(" ", "")
    return "torch"


def extra_for(exc: BaseException) -> tuple[str, str] | None:
    """``(module, extra)`` when ``exc`` is a ``ModuleNotFoundError`` for a module an extra installs, else None."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    module = exc.name.split(".")[0]
    extra = EXTRAS.get(module)
    return None if extra is None else (module, extra)


def missing_message(exc: BaseException, what: str = "this") -> str | None:
    """The one line for a missing optional module, e.g. ``zhseq train needs torch, which is not installed:
    pip install 'zhseq[train]'``; None when ``exc`` is not about a module an extra installs."""
    found = extra_for(exc)
    if found is None:
        return None
    module, extra = found
    line = f"{what} needs {module}, which is not installed: pip install 'zhseq[{extra}]'"
    if module == "torch":
        line += f" (torch's CPU build, without CUDA: pip install '{torch_requirement()}' --index-url {TORCH_CPU_INDEX})"
    return line
