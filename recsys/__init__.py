"""Tail Studio's library: data, models, maps and long-tail metrics, free of any UI.

Heavy modules (torch, umap, sentence models) are imported lazily by the functions that need
them, so ``import recsys`` stays fast. Importing it sets the OpenMP wait policy torch will use
(:mod:`recsys.threads`).
"""


from recsys.data.dataset import Dataset, DatasetConfig, build_dataset
from recsys.data.formats import load_files
from recsys.data.reading import IngestError, read_table
from recsys.data.splits import Split, SplitConfig, split_dataset
from recsys.data.validation import ValidationReport, ValidationResult, validate
from recsys.threads import configure_openmp
from recsys.workspace import Workspace

configure_openmp()  # before any torch import: idle OpenMP workers sleep instead of spinning

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "DatasetConfig",
    "IngestError",
    "Split",
    "SplitConfig",
    "ValidationReport",
    "ValidationResult",
    "Workspace",
    "__version__",
    "build_dataset",
    "load_files",
    "read_table",
    "split_dataset",
    "validate",
]
