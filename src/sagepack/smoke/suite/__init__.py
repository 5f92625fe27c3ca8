"""The image checks themselves: pytest modules that :mod:`sagepack.smoke.runner` runs
against a built image through :mod:`sagepack.smoke.plugin`. Nothing in sagepack imports
them; they hold checks only (no container start-up, no report rendering)."""
