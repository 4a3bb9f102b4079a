"""What is printed for a job: the cover sheet, the disc label, the USB sticker and the
jewel-case insert (reportlab PDFs), and sending them to CUPS or a folder."""
