"""sagepack: turn a trained model into tested, hermetic Amazon SageMaker inference images.

This package is imported inside inference images too, so importing it must stay free of
third-party dependencies: host-side modules (images, publish, containers) import theirs
lazily, in their own modules.
"""

__version__ = "0.1.0"
