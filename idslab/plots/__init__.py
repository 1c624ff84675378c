"""plotly figures: radar.py (scenes, tiles, one head echo), training.py (loss, UMAP, sweeps). Import the module."""
