"""Data: spatio-temporal datasets as TFDS builders, and forecasting batches.

Typical use (the training code's entry point)::

  from entropy_attention_jax import data

  forecasting = data.load_forecasting_data("synthetic_traffic", "/tmp/tfds", nodes=20, days=14)
  for batch in forecasting.train.batches(16, shuffle=True, seed=0, epoch=0, drop_remainder=True):
    batch["x"]  # [16, 12, nodes, 3]: z-scored signal, time of day, day of week
    batch["y"]  # [16, 12, nodes, 1]: the signal on its original scale (NaN = missing)
  forecasting.scaler.inverse_transform(predictions)  # back to the original scale

Builders write `array_record` files with `tensorflow-datasets` and need no
TensorFlow; see docs/data.md. This package imports no model code.
"""

from entropy_attention_jax._optional import require as _require

# One clear line, naming the extra, when a library of this package is missing.
_require(
    "tensorflow_datasets", "data",
    "to build and read datasets (entropy_attention_jax.data)", "tensorflow-datasets",
)
_require("pandas", "data", "to read tables and calendars (entropy_attention_jax.data)")
_require("scipy", "data", "for the synthetic road graph (entropy_attention_jax.data)")

from entropy_attention_jax.data.builders.wide_table import read_table as read_table
from entropy_attention_jax.data.calendar import TimeGrid as TimeGrid
from entropy_attention_jax.data.calendar import default_window as default_window
from entropy_attention_jax.data.errors import DataError as DataError
from entropy_attention_jax.data.errors import MissingFileError as MissingFileError
from entropy_attention_jax.data.forecasting import TIME_FEATURES as TIME_FEATURES
from entropy_attention_jax.data.forecasting import ForecastingData as ForecastingData
from entropy_attention_jax.data.forecasting import WindowSplit as WindowSplit
from entropy_attention_jax.data.forecasting import load_forecasting_data as load_forecasting_data
from entropy_attention_jax.data.forecasting import make_forecasting_data as make_forecasting_data
from entropy_attention_jax.data.registry import DATASETS as DATASETS
from entropy_attention_jax.data.registry import build_dataset as build_dataset
from entropy_attention_jax.data.registry import dataset_info as dataset_info
from entropy_attention_jax.data.registry import dataset_names as dataset_names
from entropy_attention_jax.data.registry import load_series as load_series
from entropy_attention_jax.data.scaler import StandardScaler as StandardScaler
from entropy_attention_jax.data.series import Series as Series
from entropy_attention_jax.data.series import SeriesInfo as SeriesInfo
from entropy_attention_jax.data.synthetic import RoadGraph as RoadGraph
from entropy_attention_jax.data.synthetic import TrafficModel as TrafficModel
from entropy_attention_jax.data.synthetic import road_graph as road_graph
from entropy_attention_jax.data.synthetic import simulate_traffic as simulate_traffic
from entropy_attention_jax.data.synthetic import synthetic_traffic as synthetic_traffic
from entropy_attention_jax.data.windows import SplitWindows as SplitWindows
from entropy_attention_jax.data.windows import split_windows as split_windows

__all__ = [
    "DATASETS",
    "TIME_FEATURES",
    "DataError",
    "ForecastingData",
    "MissingFileError",
    "RoadGraph",
    "Series",
    "SeriesInfo",
    "SplitWindows",
    "StandardScaler",
    "TrafficModel",
    "WindowSplit",
    "build_dataset",
    "dataset_info",
    "dataset_names",
    "load_forecasting_data",
    "load_series",
    "read_table",
    "TimeGrid",
    "default_window",
    "make_forecasting_data",
    "road_graph",
    "simulate_traffic",
    "split_windows",
    "synthetic_traffic",
]
