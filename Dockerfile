FROM python:3.11-slim
WORKDIR /opt/ernie-traffic
COPY . .
RUN pip install --no-cache-dir -e .
ENTRYPOINT ["ernie-traffic"]
CMD ["--help"]
