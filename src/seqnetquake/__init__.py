"""seqnetquake: the SeqNetQuake study (Xiong et al. 2021) as a reproducible DVC + MLflow pipeline.

Xiong, P., Long, C., Zhou, H., Battiston, R., De Santis, A., Ouzounov, D., Zhang, X., Shen, X.
(2021). Pre-Earthquake Ionospheric Perturbation Identification Using CSES Data via Transfer
Learning. Front. Environ. Sci. 9:779255. doi:10.3389/fenvs.2021.779255
"""

__version__ = "0.1.0"
