"""Model families; each module registers its family on import."""
from slim.families import cls, det, rec  # noqa: F401
