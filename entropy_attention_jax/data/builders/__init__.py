"""TFDS dataset builders (no TensorFlow needed): one time-ordered series each."""

from entropy_attention_jax.data.builders.base import SERIES_SPLIT as SERIES_SPLIT
from entropy_attention_jax.data.builders.base import BuilderOption as BuilderOption
from entropy_attention_jax.data.builders.base import SeriesBuilder as SeriesBuilder
from entropy_attention_jax.data.builders.chicago_ridership import ChicagoRidership as ChicagoRidership
from entropy_attention_jax.data.builders.lagged_network import LaggedNetwork as LaggedNetwork
from entropy_attention_jax.data.builders.pems import PEMS_FACTS as PEMS_FACTS
from entropy_attention_jax.data.builders.pems import Pems03 as Pems03
from entropy_attention_jax.data.builders.pems import Pems04 as Pems04
from entropy_attention_jax.data.builders.pems import Pems07 as Pems07
from entropy_attention_jax.data.builders.pems import Pems08 as Pems08
from entropy_attention_jax.data.builders.speed_tables import MetrLa as MetrLa
from entropy_attention_jax.data.builders.speed_tables import PemsBay as PemsBay
from entropy_attention_jax.data.builders.synthetic_traffic import SyntheticTraffic as SyntheticTraffic
from entropy_attention_jax.data.builders.wide_table import WideTable as WideTable

__all__ = [
    "PEMS_FACTS",
    "SERIES_SPLIT",
    "BuilderOption",
    "ChicagoRidership",
    "LaggedNetwork",
    "MetrLa",
    "Pems03",
    "Pems04",
    "Pems07",
    "Pems08",
    "PemsBay",
    "SeriesBuilder",
    "SyntheticTraffic",
    "WideTable",
]
