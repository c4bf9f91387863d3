"""kubeplan: architect a Kubernetes platform from constraints and render it as proven code."""

__version__ = "0.1.0"
