install.packages("jsonlite")
