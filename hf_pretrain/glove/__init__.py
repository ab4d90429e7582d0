from .configuration_glove import GloVeConfig
from .modeling_glove import GloVeModel, GloVeOutput, GloVePreTrainedModel, weighting

__all__ = ["GloVeConfig", "GloVeModel", "GloVeOutput", "GloVePreTrainedModel", "weighting"]
