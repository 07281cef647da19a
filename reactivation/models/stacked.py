"""E linear layers of one shape as one module, the layers of an :class:`~reactivation.models.ensemble.Ensemble`."""

from __future__ import annotations

from torch import Tensor, nn

from reactivation.models import ops


class StackedLinear(nn.Module):
    """E linear layers of the same shape as one module: y_k = x_k W_k^T + b_k for member k.

    Args:
        weight: (E, out, in) stacked weights (becomes the ``weight`` parameter as is, no copy).
        bias: (E, out) stacked biases, or ``None`` for none.
    """

    weight: Tensor
    bias: Tensor | None

    def __init__(self, weight: Tensor, bias: Tensor | None) -> None:
        super().__init__()
        if weight.dim() != 3 or (bias is not None and bias.shape != weight.shape[:2]):
            shapes = f"weight {tuple(weight.shape)}, bias {None if bias is None else tuple(bias.shape)}"
            raise ValueError(f"StackedLinear needs weight (E, out, in) and bias (E, out) or None, got {shapes}")
        self.weight = nn.Parameter(weight)
        if bias is None:
            self.register_parameter("bias", None)
        else:
            self.bias = nn.Parameter(bias)

    @property
    def in_features(self) -> int:
        return self.weight.shape[2]

    @property
    def out_features(self) -> int:
        return self.weight.shape[1]

    def extra_repr(self) -> str:
        return (
            f"members={self.weight.shape[0]}, in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )

    def forward(self, x: Tensor) -> Tensor:
        """(E, ..., in) -> (E, ..., out), one batched product for all members."""
        return ops.linear(x, self.weight, self.bias)
