import pytest

from serlab.regularizers.dropout import Dropout


def test_rate_out_of_range_names_the_key():
    with pytest.raises(ValueError, match=r"regularizer.dropout.p must be in \[0, 1\)"):
        Dropout(p=1.5)
