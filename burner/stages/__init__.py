"""The pipeline stages, one module each; their order lives in burner.pipeline.STAGES."""
