"""burner: approved imaging releases in, verified DICOM discs out."""

__version__ = "0.1.0"
