"""The front half of the flow: a user's files become one immutable, fingerprinted Dataset.

::

    reading (bounded, sniffed) ──> validation (report: kept / dropped / why) ──> Dataset
        formats (MovieLens, Online Retail, the demo shop)          splits, segments, profile

Modules: :mod:`~recsys.data.schema` (column roles and auto-detection), :mod:`~recsys.data.reading`
(CSV / TSV / gzip / Parquet / XLSX into a raw table), :mod:`~recsys.data.validation` (the report),
:mod:`~recsys.data.formats` (public formats and one-call loading), :mod:`~recsys.data.demo`
(the generated demo shop), :mod:`~recsys.data.dataset` (the one ``Dataset`` type),
:mod:`~recsys.data.splits` (evaluation protocols), :mod:`~recsys.data.segments` (user segments
and histories) and :mod:`~recsys.data.profile` (long-tail profile). Nothing here imports a
model, a re-ranker or a page.
"""

from recsys.data.dataset import Dataset, DatasetConfig, build_dataset
from recsys.data.formats import load_files
from recsys.data.reading import IngestError, read_table
from recsys.data.splits import Split, SplitConfig, split_dataset
from recsys.data.validation import ValidationReport, ValidationResult, validate

__all__ = ["Dataset", "DatasetConfig", "IngestError", "Split", "SplitConfig", "ValidationReport",
           "ValidationResult", "build_dataset", "load_files", "read_table", "split_dataset",
           "validate"]
