# cartflow's worker and server, built from the repository. The same image runs either:
#   docker run cartflow worker     docker run cartflow server
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=optional && npm cache clean --force
COPY . .
USER node
ENTRYPOINT ["node", "--import", "tsx", "cli/main.ts"]
CMD ["server"]
