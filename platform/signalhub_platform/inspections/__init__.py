"""Double random inspections (双随机一公开): the target directory, the draw ceremony, results and exports."""
